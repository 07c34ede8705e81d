import {
  Badge,
  BadgeProps,
  Button,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  Field,
  Input,
  makeStyles,
  MessageBar,
  MessageBarBody,
  Spinner,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
  Textarea,
  Title1,
  Title2,
  tokens,
} from '@fluentui/react-components';
import { FormEvent, useState } from 'react';
import { ApiError, asApiError, commaList, fieldErrorsOf, send } from '../api/http';
import type { DeviceView, Page } from '../api/types';
import { CursorPagerButtons, useCursorPages } from '../components/CursorPager';
import { usePolled } from '../components/hooks';
import { formatDateTime } from '../i18n/format';
import { useI18n } from '../i18n/i18n';

const useStyles = makeStyles({
  page: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalXL },
  heading: { margin: 0 },
  tableWrap: { overflowX: 'auto' },
  actions: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalS, alignItems: 'end' },
  filterButton: { alignSelf: 'end' },
  form: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM, maxWidth: '40rem' },
  detail: { display: 'block', color: tokens.colorNeutralForeground2, overflowWrap: 'anywhere' },
});

export type RotationState = 'no-password' | 'current' | 'pending' | 'failing' | 'overdue' | 'agent-silent' | 'retired';

/** One word for where a device's password stands, worst first: what an admin scans the list for. */
export function rotationStateOf(d: DeviceView, now: number): RotationState {
  if (d.status === 'retired') return 'retired';
  if (d.rotation.failing) return 'failing';
  if (d.rotation.ackOverdue) return 'agent-silent';
  if (d.credential.nextRotationDue && Date.parse(d.credential.nextRotationDue) < now && d.credential.pendingVersion === null) return 'overdue';
  if (d.credential.pendingVersion !== null) return d.credential.currentVersion === null ? 'no-password' : 'pending';
  return 'current';
}
const stateColour: Record<RotationState, BadgeProps['color']> = {
  'no-password': 'warning',
  current: 'success',
  pending: 'informative',
  failing: 'danger',
  overdue: 'warning',
  'agent-silent': 'danger',
  retired: 'subtle',
};

/** IT admins: every device with where its password stands; force a rotation, enrol, retire. */
export default function Devices() {
  const styles = useStyles();
  const { t, language } = useI18n();
  // A page of 50 at a time, by the API's cursor; a group narrows the list (the API's own filter).
  const [group, setGroup] = useState('');
  const [shownGroup, setShownGroup] = useState('');
  const pages = useCursorPages();
  const cursor = pages.cursor;
  const query = new URLSearchParams({ limit: '50', ...(shownGroup ? { group: shownGroup } : {}), ...(cursor ? { cursor } : {}) }).toString();
  const { data, error, refresh } = usePolled<Page<DeviceView>>(`/v1/devices?${query}`, 5000);
  const [notice, setNotice] = useState<string>();
  const [actionError, setActionError] = useState<ApiError>();
  const [retiring, setRetiring] = useState<{ device: DeviceView; needsForce: boolean; message?: string }>();
  const now = Date.now();

  const act = async (fn: () => Promise<unknown>, done: string) => {
    setActionError(undefined);
    try {
      await fn();
      setNotice(done);
      refresh();
    } catch (e) {
      setActionError(asApiError(e));
    }
  };
  const retire = async (d: DeviceView, force: boolean) => {
    try {
      await send('DELETE', `/v1/devices/${encodeURIComponent(d.id)}${force ? '?force=true' : ''}`);
      setRetiring(undefined);
      setNotice(t('devices.retired', { id: d.id }));
      refresh();
    } catch (e) {
      // The device still holds a password someone was shown: say so, and let the admin decide.
      if (e instanceof ApiError && e.status === 409 && !force) setRetiring({ device: d, needsForce: true, message: e.message });
      else setActionError(asApiError(e));
    }
  };

  return (
    <div className={styles.page}>
      <Title1 as="h1" className={styles.heading} tabIndex={-1}>
        {t('devices.title')}
      </Title1>
      <div role="status" aria-live="polite">
        {notice && (
          <MessageBar intent="success">
            <MessageBarBody>{notice}</MessageBarBody>
          </MessageBar>
        )}
      </div>
      {(error ?? actionError) && (
        <MessageBar intent="error">
          <MessageBarBody>{(actionError ?? error)?.message}</MessageBarBody>
        </MessageBar>
      )}
      <form
        className={styles.actions}
        onSubmit={(e) => {
          e.preventDefault();
          pages.reset();
          setShownGroup(group.trim());
        }}
      >
        <Field label={t('devices.groupFilter')}>
          <Input value={group} onChange={(_e, d) => setGroup(d.value)} />
        </Field>
        <Button type="submit" className={styles.filterButton}>
          {t('audit.search')}
        </Button>
      </form>
      {!data && !error && <Spinner label={t('common.loading')} />}
      {data && (
        <div className={styles.tableWrap}>
          <Table aria-label={t('devices.title')} size="small">
            <TableHeader>
              <TableRow>
                <TableHeaderCell>{t('devices.device')}</TableHeaderCell>
                <TableHeaderCell>{t('devices.groups')}</TableHeaderCell>
                <TableHeaderCell>{t('devices.password')}</TableHeaderCell>
                <TableHeaderCell>{t('devices.lastRotated')}</TableHeaderCell>
                <TableHeaderCell>{t('devices.nextDue')}</TableHeaderCell>
                <TableHeaderCell>{t('devices.actions')}</TableHeaderCell>
              </TableRow>
            </TableHeader>
            <TableBody>
              {data.items.map((d) => {
                const state = rotationStateOf(d, now);
                return (
                  <TableRow key={d.id}>
                    <TableCell>
                      <Text weight="semibold">{d.displayName}</Text>
                      <span className={styles.detail}>{d.id}</span>
                    </TableCell>
                    <TableCell>{d.groups.join(', ')}</TableCell>
                    <TableCell>
                      <Badge appearance="filled" color={stateColour[state]} shape="rounded">
                        {t(`devices.state.${state}`)}
                      </Badge>
                      {state === 'failing' && d.rotation.lastError && <span className={styles.detail}>{d.rotation.lastError}</span>}
                    </TableCell>
                    <TableCell>{d.credential.lastRotatedAt ? formatDateTime(d.credential.lastRotatedAt, language) : '—'}</TableCell>
                    <TableCell>{d.credential.nextRotationDue ? formatDateTime(d.credential.nextRotationDue, language) : '—'}</TableCell>
                    <TableCell>
                      {d.status === 'active' && (
                        <div className={styles.actions}>
                          <Button
                            size="small"
                            onClick={() => void act(() => send('POST', `/v1/devices/${encodeURIComponent(d.id)}/rotate`), t('devices.rotationQueued', { id: d.id }))}
                          >
                            {t('devices.rotate')}
                          </Button>
                          <Button size="small" onClick={() => setRetiring({ device: d, needsForce: false })}>
                            {t('devices.retire')}
                          </Button>
                        </div>
                      )}
                    </TableCell>
                  </TableRow>
                );
              })}
            </TableBody>
          </Table>
        </div>
      )}
      <div className={styles.actions}>
        <CursorPagerButtons pages={pages} nextCursor={data?.nextCursor} />
      </div>
      <Dialog open={!!retiring} onOpenChange={(_e, d) => !d.open && setRetiring(undefined)}>
        <DialogSurface>
          <DialogBody>
            <DialogTitle>{t('devices.retireTitle', { id: retiring?.device.id ?? '' })}</DialogTitle>
            <DialogContent>{retiring?.needsForce ? retiring.message : t('devices.retireBody')}</DialogContent>
            <DialogActions>
              <Button appearance="primary" onClick={() => retiring && void retire(retiring.device, retiring.needsForce)}>
                {retiring?.needsForce ? t('devices.retireAnyway') : t('devices.retire')}
              </Button>
              <Button onClick={() => setRetiring(undefined)}>{t('common.cancel')}</Button>
            </DialogActions>
          </DialogBody>
        </DialogSurface>
      </Dialog>
      <EnrolForm onEnrolled={(id) => (setNotice(t('devices.enrolled', { id })), refresh())} />
    </div>
  );
}

function EnrolForm({ onEnrolled }: { onEnrolled: (id: string) => void }) {
  const styles = useStyles();
  const { t } = useI18n();
  const [f, setF] = useState({ id: '', displayName: '', groups: '', account: '', agentKey: '' });
  const [error, setError] = useState<ApiError>();
  const errors = fieldErrorsOf(error);
  const set = (k: keyof typeof f) => (_e: unknown, d: { value: string }) => setF((x) => ({ ...x, [k]: d.value }));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    let agentKey: unknown;
    try {
      agentKey = JSON.parse(f.agentKey);
    } catch {
      setError(new ApiError(400, 'invalid-request', '', [{ path: 'agentKey', message: t('devices.keyNotJson') }]));
      return;
    }
    try {
      await send('POST', '/v1/devices', {
        id: f.id,
        ...(f.displayName ? { displayName: f.displayName } : {}),
        groups: commaList(f.groups),
        ...(f.account ? { account: f.account } : {}),
        agentKey,
      });
      onEnrolled(f.id);
      setF({ id: '', displayName: '', groups: '', account: '', agentKey: '' });
    } catch (err) {
      setError(asApiError(err));
    }
  };
  return (
    <form className={styles.form} onSubmit={(e) => void submit(e)} noValidate aria-labelledby="enrol">
      <Title2 as="h2" id="enrol" className={styles.heading}>
        {t('devices.enrol')}
      </Title2>
      <Field label={t('devices.id')} required validationMessage={errors.id}>
        <Input value={f.id} onChange={set('id')} />
      </Field>
      <Field label={t('devices.displayName')} validationMessage={errors.displayName}>
        <Input value={f.displayName} onChange={set('displayName')} />
      </Field>
      <Field label={t('devices.groups')} hint={t('dev.groupsHint')} required validationMessage={errors.groups}>
        <Input value={f.groups} onChange={set('groups')} />
      </Field>
      <Field label={t('devices.account')} hint={t('devices.accountHint')} validationMessage={errors.account}>
        <Input value={f.account} onChange={set('account')} />
      </Field>
      <Field label={t('devices.agentKey')} hint={t('devices.agentKeyHint')} required validationMessage={errors.agentKey}>
        <Textarea value={f.agentKey} onChange={set('agentKey')} resize="vertical" />
      </Field>
      {error && !Object.keys(errors).length && (
        <MessageBar intent="error">
          <MessageBarBody>{error.message}</MessageBarBody>
        </MessageBar>
      )}
      <div>
        <Button type="submit" appearance="primary">
          {t('devices.enrolButton')}
        </Button>
      </div>
    </form>
  );
}
