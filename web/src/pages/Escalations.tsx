import {
  Badge,
  BadgeProps,
  Button,
  Card,
  Dropdown,
  Field,
  Input,
  makeStyles,
  MessageBar,
  MessageBarBody,
  Option,
  Spinner,
  Text,
  Textarea,
  Title1,
  Title2,
  Title3,
  tokens,
} from '@fluentui/react-components';
import { FormEvent, useEffect, useState } from 'react';
import { ApiError, asApiError, fieldErrorsOf, getJson, send } from '../api/http';
import { useSession } from '../api/session';
import type { Escalation, EscalationRouting, EscalationStatus, Page } from '../api/types';
import { usePolled } from '../components/hooks';
import { formatDateTime } from '../i18n/format';
import { useI18n } from '../i18n/i18n';
import type { MessageKey } from '../i18n/en';

const useStyles = makeStyles({
  page: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalXL },
  heading: { margin: 0, overflowWrap: 'anywhere' },
  form: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM, maxWidth: '40rem' },
  list: { listStyleType: 'none', margin: 0, padding: 0, display: 'grid', gap: tokens.spacingVerticalM },
  row: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalM, alignItems: 'center', justifyContent: 'space-between' },
  actions: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalS, alignItems: 'end' },
});

// The lifecycle as the daemon's escalation.ts has it: where an admin may move each status.
const nextStatus: Record<EscalationStatus, EscalationStatus[]> = { submitted: ['acknowledged', 'rejected'], acknowledged: ['resolved', 'rejected'], resolved: [], rejected: [] };
const statusColour: Record<EscalationStatus, BadgeProps['color']> = { submitted: 'warning', acknowledged: 'brand', resolved: 'success', rejected: 'subtle' };

const knownCategories = ['service-policy', 'service-setting', 'hardware', 'software', 'network', 'account', 'other'];

/** The escalation portal: file a Sev C escalation (seeing where it goes first), and follow one's own. */
export default function Escalations() {
  const styles = useStyles();
  const { t } = useI18n();
  const { session } = useSession();
  const admin = session?.signedIn && session.principal.roles.includes('admin');
  const [routing, setRouting] = useState<EscalationRouting>();
  const { data, error, refresh } = usePolled<Page<Escalation>>('/v1/escalations?limit=50', 5000);
  useEffect(() => {
    void getJson<EscalationRouting>('/v1/escalations/routing').then(setRouting);
  }, []);
  return (
    <div className={styles.page}>
      <Title1 as="h1" className={styles.heading} tabIndex={-1}>
        {t('esc.title')}
      </Title1>
      <MessageBar intent="info">
        <MessageBarBody>{t('esc.severities')}</MessageBarBody>
      </MessageBar>
      {!routing ? <Spinner /> : routing.mayFile ? <FileForm routing={routing} onFiled={refresh} /> : <Text>{routing.reason}</Text>}
      <section aria-labelledby="esc-list" className={styles.page}>
        <Title2 as="h2" id="esc-list" className={styles.heading}>
          {admin ? t('esc.all') : t('esc.mine')}
        </Title2>
        {error && <Text>{error.message}</Text>}
        {data && data.items.length === 0 && <Text>{t('esc.none')}</Text>}
        {data && data.items.length > 0 && (
          <ul className={styles.list}>
            {data.items.map((e) => (
              <li key={e.id}>
                <EscalationCard escalation={e} admin={!!admin} onChanged={refresh} />
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}

function FileForm({ routing, onFiled }: { routing: EscalationRouting; onFiled: () => void }) {
  const styles = useStyles();
  const { t } = useI18n();
  const [category, setCategory] = useState<string>();
  const [summary, setSummary] = useState('');
  const [details, setDetails] = useState('');
  const [deviceId, setDeviceId] = useState('');
  const [ticket, setTicket] = useState('');
  const [error, setError] = useState<ApiError>();
  const [filed, setFiled] = useState<Escalation>();
  const chosen = routing.categories.find((c) => c.category === category);
  const errors = fieldErrorsOf(error);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      const body = { severity: 'C', category, summary, ...(details ? { details } : {}), ...(deviceId ? { deviceId } : {}), ...(ticket ? { ticket } : {}) };
      setFiled(await send<Escalation>('POST', '/v1/escalations', body));
      setSummary('');
      setDetails('');
      setDeviceId('');
      setTicket('');
      onFiled();
    } catch (err) {
      setError(asApiError(err));
    }
  };
  // Categories the default configuration ships are named in the user's language; an organisation's own keep their key.
  const categoryName = (c: string) => (knownCategories.includes(c) ? t(`esc.cat.${c}` as MessageKey) : c);
  return (
    <form className={styles.form} onSubmit={(e) => void submit(e)} noValidate aria-labelledby="esc-file">
      <Title2 as="h2" id="esc-file" className={styles.heading}>
        {t('esc.file')}
      </Title2>
      <Field label={t('esc.category')} required validationMessage={errors.category} hint={chosen ? t('esc.goesTo', { who: chosen.routedToName }) : t('esc.pickCategory')}>
        <Dropdown value={chosen ? categoryName(chosen.category) : ''} selectedOptions={category ? [category] : []} onOptionSelect={(_e, d) => setCategory(d.optionValue)}>
          {routing.categories.map((c) => (
            <Option key={c.category} value={c.category} text={categoryName(c.category)}>
              {categoryName(c.category)} → {c.routedToName}
            </Option>
          ))}
        </Dropdown>
      </Field>
      <Field label={t('esc.summary')} required validationMessage={errors.summary}>
        <Input value={summary} maxLength={200} onChange={(_e, d) => setSummary(d.value)} />
      </Field>
      <Field label={t('esc.details')} validationMessage={errors.details}>
        <Textarea value={details} maxLength={4000} onChange={(_e, d) => setDetails(d.value)} resize="vertical" />
      </Field>
      <Field label={t('esc.device')} validationMessage={errors.deviceId}>
        <Input value={deviceId} onChange={(_e, d) => setDeviceId(d.value)} />
      </Field>
      <Field label={t('grant.ticket')} validationMessage={errors.ticket}>
        <Input value={ticket} maxLength={100} onChange={(_e, d) => setTicket(d.value)} />
      </Field>
      {error && !Object.keys(errors).length && (
        <MessageBar intent="error">
          <MessageBarBody>{error.message}</MessageBarBody>
        </MessageBar>
      )}
      <div role="status" aria-live="polite">
        {filed && (
          <MessageBar intent="success">
            <MessageBarBody>{t('esc.filed', { who: filed.routedToName })}</MessageBarBody>
          </MessageBar>
        )}
      </div>
      <div>
        <Button type="submit" appearance="primary" disabled={!category}>
          {t('esc.send')}
        </Button>
      </div>
    </form>
  );
}

function EscalationCard({ escalation: e, admin, onChanged }: { escalation: Escalation; admin: boolean; onChanged: () => void }) {
  const styles = useStyles();
  const { t, language } = useI18n();
  const [note, setNote] = useState('');
  const [error, setError] = useState<ApiError>();
  const move = async (status: EscalationStatus) => {
    setError(undefined);
    try {
      await send('PATCH', `/v1/escalations/${e.id}`, { status, ...(note ? { note } : {}) });
      setNote('');
      onChanged();
    } catch (err) {
      setError(asApiError(err));
    }
  };
  const headingId = `esc-${e.id}`;
  return (
    <Card aria-labelledby={headingId}>
      <div className={styles.row}>
        <Title3 as="h3" id={headingId} className={styles.heading}>
          {e.summary}
        </Title3>
        <Badge appearance="filled" color={statusColour[e.status]} shape="rounded">
          {t(`esc.status.${e.status}`)}
        </Badge>
      </div>
      <Text size={200}>
        {formatDateTime(e.createdAt, language)} · {e.submitterName ?? e.submitter} · {t('esc.routed', { who: e.routedToName })}
        {e.deviceId ? ` · ${e.deviceId}` : ''}
      </Text>
      {e.statusNote && <Text>{e.statusNote}</Text>}
      {admin && nextStatus[e.status].length > 0 && (
        <div className={styles.actions}>
          <Field label={t('esc.note')}>
            <Input value={note} maxLength={1000} onChange={(_e, d) => setNote(d.value)} />
          </Field>
          {nextStatus[e.status].map((s) => (
            <Button key={s} onClick={() => void move(s)}>
              {t(`esc.to.${s}`)}
            </Button>
          ))}
        </div>
      )}
      {error && <Text>{error.message}</Text>}
    </Card>
  );
}
