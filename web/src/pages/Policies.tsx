import {
  Badge,
  Button,
  Card,
  Checkbox,
  Field,
  Input,
  makeStyles,
  MessageBar,
  MessageBarBody,
  Spinner,
  Switch,
  Text,
  Title1,
  Title2,
  Title3,
  tokens,
} from '@fluentui/react-components';
import { FormEvent, useState } from 'react';
import { ApiError, asApiError, commaList, fieldErrorsOf, send } from '../api/http';
import { allRoles, type Page, type Policy, type Role } from '../api/types';
import { usePolled } from '../components/hooks';
import { formatDuration, isoDurationSeconds } from '../i18n/format';
import { useI18n } from '../i18n/i18n';

const useStyles = makeStyles({
  page: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalXL },
  heading: { margin: 0, overflowWrap: 'anywhere' },
  list: { listStyleType: 'none', margin: 0, padding: 0, display: 'grid', gap: tokens.spacingVerticalM },
  row: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalM, alignItems: 'center', justifyContent: 'space-between' },
  form: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM, maxWidth: '40rem' },
  roles: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalS, border: 'none', margin: 0, padding: 0 },
  actions: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalS },
});

interface Draft {
  name: string;
  groups: string;
  roles: Role[];
  subjects: string;
  deviceGroups: string;
  maxDuration: string;
  requireTicket: boolean;
  ticketPattern: string;
  requireApproval: boolean;
  enabled: boolean;
}
const empty: Draft = {
  name: '',
  groups: '',
  roles: [],
  subjects: '',
  deviceGroups: '',
  maxDuration: 'PT2H',
  requireTicket: false,
  ticketPattern: '',
  requireApproval: true,
  enabled: true,
};
const draftOf = (p: Policy): Draft => ({
  name: p.name,
  groups: (p.principals.groups ?? []).join(', '),
  roles: p.principals.roles ?? [],
  subjects: (p.principals.subjects ?? []).join(', '),
  deviceGroups: p.deviceGroups.join(', '),
  maxDuration: p.maxDuration,
  requireTicket: p.requireTicket,
  ticketPattern: p.ticketPattern ?? '',
  requireApproval: p.requireApproval,
  enabled: p.enabled,
});
const bodyOf = (d: Draft) => ({
  name: d.name,
  principals: {
    ...(commaList(d.groups).length ? { groups: commaList(d.groups) } : {}),
    ...(d.roles.length ? { roles: d.roles } : {}),
    ...(commaList(d.subjects).length ? { subjects: commaList(d.subjects) } : {}),
  },
  deviceGroups: commaList(d.deviceGroups),
  maxDuration: d.maxDuration,
  requireTicket: d.requireTicket,
  ...(d.ticketPattern ? { ticketPattern: d.ticketPattern } : {}),
  requireApproval: d.requireApproval,
  enabled: d.enabled,
});

/** IT admins: the policies that designate who may elevate where; list, create, edit, disable. */
export default function Policies() {
  const styles = useStyles();
  const { t, language } = useI18n();
  const { data, error, refresh } = usePolled<Page<Policy>>('/v1/policies?limit=100', 10000);
  const [editing, setEditing] = useState<Policy | 'new'>();
  const [notice, setNotice] = useState<string>();
  const saved = (p: Policy) => {
    setEditing(undefined);
    setNotice(p.grantsEnded ? t('policies.savedEnded', { name: p.name, count: p.grantsEnded }) : t('policies.saved', { name: p.name }));
    refresh();
  };
  return (
    <div className={styles.page}>
      <div className={styles.row}>
        <Title1 as="h1" className={styles.heading} tabIndex={-1}>
          {t('policies.title')}
        </Title1>
        <Button appearance="primary" onClick={() => setEditing('new')}>
          {t('policies.new')}
        </Button>
      </div>
      <div role="status" aria-live="polite">
        {notice && (
          <MessageBar intent="success">
            <MessageBarBody>{notice}</MessageBarBody>
          </MessageBar>
        )}
      </div>
      {editing && <PolicyForm policy={editing === 'new' ? undefined : editing} onSaved={saved} onCancel={() => setEditing(undefined)} />}
      {error && <Text>{error.message}</Text>}
      {!data && !error && <Spinner label={t('common.loading')} />}
      {data && (
        <ul className={styles.list} aria-label={t('policies.title')}>
          {data.items.map((p) => (
            <li key={p.id}>
              <Card aria-labelledby={`policy-${p.id}`}>
                <div className={styles.row}>
                  <Title3 as="h2" id={`policy-${p.id}`} className={styles.heading}>
                    {p.name}
                  </Title3>
                  <Badge appearance="filled" color={p.enabled ? 'success' : 'subtle'} shape="rounded">
                    {p.enabled ? t('policies.enabled') : t('policies.disabled')}
                  </Badge>
                </div>
                <Text>
                  {t('policies.summary', {
                    who: [...(p.principals.groups ?? []), ...(p.principals.roles ?? []), ...(p.principals.subjects ?? [])].join(', '),
                    where: p.deviceGroups.join(', '),
                    max: formatDuration(isoDurationSeconds(p.maxDuration), language),
                  })}{' '}
                  {p.requireApproval ? t('policies.approval') : t('policies.noApproval')} {p.requireTicket ? t('policies.ticket') : ''}
                </Text>
                <div className={styles.actions}>
                  <Button size="small" onClick={() => setEditing(p)}>
                    {t('policies.edit')}
                  </Button>
                  <Button size="small" onClick={() => void send<Policy>('PUT', `/v1/policies/${p.id}`, { ...bodyOf(draftOf(p)), enabled: !p.enabled }).then((r) => r && saved(r))}>
                    {p.enabled ? t('policies.disable') : t('policies.enable')}
                  </Button>
                </div>
              </Card>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function PolicyForm({ policy, onSaved, onCancel }: { policy?: Policy; onSaved: (p: Policy) => void; onCancel: () => void }) {
  const styles = useStyles();
  const { t } = useI18n();
  const [d, setD] = useState<Draft>(policy ? draftOf(policy) : empty);
  const [error, setError] = useState<ApiError>();
  const errors = fieldErrorsOf(error);
  const text = (k: 'name' | 'groups' | 'subjects' | 'deviceGroups' | 'maxDuration' | 'ticketPattern') => ({
    value: d[k],
    onChange: (_e: unknown, v: { value: string }) => setD((x) => ({ ...x, [k]: v.value })),
  });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      const saved = await send<Policy>(policy ? 'PUT' : 'POST', policy ? `/v1/policies/${policy.id}` : '/v1/policies', bodyOf(d));
      if (saved) onSaved(saved);
    } catch (err) {
      setError(asApiError(err));
    }
  };
  return (
    <Card>
      <form className={styles.form} onSubmit={(e) => void submit(e)} noValidate aria-labelledby="policy-form">
        <Title2 as="h2" id="policy-form" className={styles.heading}>
          {policy ? t('policies.editTitle', { name: policy.name }) : t('policies.new')}
        </Title2>
        <Field label={t('policies.name')} required validationMessage={errors.name}>
          <Input {...text('name')} />
        </Field>
        <Field label={t('policies.groups')} hint={t('dev.groupsHint')} validationMessage={errors.principals}>
          <Input {...text('groups')} />
        </Field>
        <fieldset className={styles.roles}>
          <legend>
            <Text weight="semibold">{t('policies.roles')}</Text>
          </legend>
          {allRoles.map((r) => (
            <Checkbox
              key={r}
              label={t(`role.${r}`)}
              checked={d.roles.includes(r)}
              onChange={(_e, v) => setD((x) => ({ ...x, roles: v.checked ? [...x.roles, r] : x.roles.filter((y) => y !== r) }))}
            />
          ))}
        </fieldset>
        <Field label={t('policies.subjects')} validationMessage={errors.subjects}>
          <Input {...text('subjects')} />
        </Field>
        <Field label={t('policies.deviceGroups')} required validationMessage={errors.deviceGroups}>
          <Input {...text('deviceGroups')} />
        </Field>
        <Field label={t('policies.maxDuration')} hint={t('policies.maxDurationHint')} required validationMessage={errors.maxDuration}>
          <Input {...text('maxDuration')} />
        </Field>
        <Switch checked={d.requireTicket} onChange={(_e, v) => setD((x) => ({ ...x, requireTicket: v.checked }))} label={t('policies.requireTicket')} />
        <Field label={t('policies.ticketPattern')} hint={t('policies.ticketPatternHint')} validationMessage={errors.ticketPattern}>
          <Input {...text('ticketPattern')} />
        </Field>
        <Switch checked={d.requireApproval} onChange={(_e, v) => setD((x) => ({ ...x, requireApproval: v.checked }))} label={t('policies.requireApproval')} />
        <Switch checked={d.enabled} onChange={(_e, v) => setD((x) => ({ ...x, enabled: v.checked }))} label={t('policies.enabled')} />
        {error && !Object.keys(errors).length && (
          <MessageBar intent="error">
            <MessageBarBody>{error.message}</MessageBarBody>
          </MessageBar>
        )}
        <div className={styles.actions}>
          <Button type="submit" appearance="primary">
            {t('policies.save')}
          </Button>
          <Button onClick={onCancel}>{t('common.cancel')}</Button>
        </div>
      </form>
    </Card>
  );
}
