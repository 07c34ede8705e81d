import {
  Button,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  DialogTrigger,
  Dropdown,
  Field,
  Input,
  makeStyles,
  MessageBar,
  MessageBarBody,
  Option,
  Spinner,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
  Title1,
  Title2,
  tokens,
} from '@fluentui/react-components';
import { FormEvent, useEffect, useState } from 'react';
import { ApiError, asApiError, fieldErrorsOf, getJson, getText } from '../api/http';
import type { AuditEvent, AuditVerification, Page } from '../api/types';
import { CursorPagerButtons, useCursorPages } from '../components/CursorPager';
import { formatDateTime } from '../i18n/format';
import { useI18n } from '../i18n/i18n';

const useStyles = makeStyles({
  page: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalXL },
  heading: { margin: 0 },
  filters: { display: 'grid', gap: tokens.spacingHorizontalM, gridTemplateColumns: 'repeat(auto-fit, minmax(12rem, 1fr))', alignItems: 'end' },
  // Fluent's Dropdown asks for 250px by default: in a grid cell it must fit the cell.
  fill: { minWidth: 0, width: '100%' },
  tableWrap: { overflowX: 'auto' },
  actions: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalM, alignItems: 'center' },
  json: {
    margin: 0,
    fontFamily: tokens.fontFamilyMonospace,
    fontSize: tokens.fontSizeBase200,
    whiteSpace: 'pre-wrap',
    overflowWrap: 'anywhere',
    maxHeight: '60vh',
    overflowY: 'auto',
  },
  mono: { fontFamily: tokens.fontFamilyMonospace, overflowWrap: 'anywhere' },
});

interface Filters {
  action: string;
  actor: string;
  deviceId: string;
  outcome: string;
  from: string;
  to: string;
}
const noFilters: Filters = { action: '', actor: '', deviceId: '', outcome: '', from: '', to: '' };

/** A local date-time field's value as the RFC 3339 time the API takes (the browser's time zone). */
const rfc3339 = (local: string) => (local ? new Date(local).toISOString() : '');

function queryOf(f: Filters, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...f, from: rfc3339(f.from), to: rfc3339(f.to), ...extra })) if (v) q.set(k, v);
  return q.toString();
}

/** The auditor's view: search the log with the API's filters, page, open an event, export, verify the chain. */
export default function Audit() {
  const styles = useStyles();
  const { t, language } = useI18n();
  const [draft, setDraft] = useState<Filters>(noFilters);
  const [filters, setFilters] = useState<Filters>(noFilters);
  const pages = useCursorPages();
  const [page, setPage] = useState<Page<AuditEvent>>();
  const [error, setError] = useState<ApiError>();
  const [verification, setVerification] = useState<AuditVerification>();
  const [verifying, setVerifying] = useState(false);
  const cursor = pages.cursor;

  useEffect(() => {
    // Only the latest search may answer: a slow earlier one must not overwrite it.
    let stale = false;
    setError(undefined);
    getJson<Page<AuditEvent>>(`/v1/audit/events?${queryOf(filters, { limit: '25', ...(cursor ? { cursor } : {}) })}`).then(
      (p) => !stale && setPage(p),
      (e: unknown) => {
        if (stale) return;
        setPage(undefined);
        setError(asApiError(e));
      },
    );
    return () => {
      stale = true;
    };
  }, [filters, cursor]);

  const search = (e: FormEvent) => {
    e.preventDefault();
    pages.reset();
    setFilters(draft);
  };
  const verify = async () => {
    setVerifying(true);
    try {
      setVerification(await getJson<AuditVerification>('/v1/audit/verify'));
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setVerifying(false);
    }
  };
  const set = (k: keyof Filters) => (_e: unknown, d: { value: string }) => setDraft((f) => ({ ...f, [k]: d.value }));
  const errors = fieldErrorsOf(error);
  // Fetched with the session's CSRF header like every other call (a bare link could be forged from a
  // sibling site and would write an audit.exported nobody asked for), then saved from memory.
  const download = async (format: 'jsonl' | 'csv') => {
    try {
      const text = await getText(exportHref(format));
      const url = URL.createObjectURL(new Blob([text], { type: format === 'csv' ? 'text/csv' : 'application/x-ndjson' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `audit.${format}`;
      a.click();
      URL.revokeObjectURL(url);
    } catch (e) {
      setError(asApiError(e));
    }
  };
  const exportHref = (format: 'jsonl' | 'csv') =>
    `/v1/audit/export?${new URLSearchParams({ format, ...(filters.from ? { from: rfc3339(filters.from) } : {}), ...(filters.to ? { to: rfc3339(filters.to) } : {}) }).toString()}`;

  return (
    <div className={styles.page}>
      <Title1 as="h1" className={styles.heading} tabIndex={-1}>
        {t('audit.title')}
      </Title1>
      <section aria-labelledby="audit-verify" className={styles.page}>
        <Title2 as="h2" id="audit-verify" className={styles.heading}>
          {t('audit.verifyTitle')}
        </Title2>
        <div className={styles.actions}>
          <Button onClick={() => void verify()} disabled={verifying}>
            {t('audit.verify')}
          </Button>
          {verifying && <Spinner size="tiny" />}
        </div>
        <div role="status" aria-live="polite">
          {verification && (
            <MessageBar intent={verification.ok ? 'success' : 'error'}>
              <MessageBarBody>
                {!verification.ok
                  ? t('audit.broken', { seq: verification.firstBadSeq ?? '?', problem: verification.problem ?? '' })
                  : verification.checkpoints
                    ? t('audit.intact', {
                        events: verification.events,
                        signed: verification.signedThroughSeq ?? 0,
                        checkpoints: verification.checkpoints,
                        unsigned: verification.unsignedEvents ?? 0,
                      })
                    : t('audit.intactUnsigned', { events: verification.events })}{' '}
                <span className={styles.mono}>{t('audit.head', { hash: verification.headHash })}</span>
              </MessageBarBody>
            </MessageBar>
          )}
        </div>
      </section>
      <section aria-labelledby="audit-search" className={styles.page}>
        <Title2 as="h2" id="audit-search" className={styles.heading}>
          {t('audit.searchTitle')}
        </Title2>
        <form className={styles.filters} onSubmit={search} noValidate>
          <Field label={t('audit.action')} validationMessage={errors.action}>
            <Input value={draft.action} onChange={set('action')} placeholder="grant.password-revealed" />
          </Field>
          <Field label={t('audit.actor')} validationMessage={errors.actor}>
            <Input value={draft.actor} onChange={set('actor')} />
          </Field>
          <Field label={t('audit.device')} validationMessage={errors.deviceId}>
            <Input value={draft.deviceId} onChange={set('deviceId')} />
          </Field>
          <Field label={t('audit.outcome')}>
            <Dropdown
              className={styles.fill}
              value={draft.outcome ? t(`audit.outcome.${draft.outcome as 'success'}`) : t('audit.any')}
              selectedOptions={[draft.outcome]}
              onOptionSelect={(_e, d) => setDraft((f) => ({ ...f, outcome: d.optionValue ?? '' }))}
            >
              <Option value="">{t('audit.any')}</Option>
              <Option value="success">{t('audit.outcome.success')}</Option>
              <Option value="denied">{t('audit.outcome.denied')}</Option>
              <Option value="failure">{t('audit.outcome.failure')}</Option>
            </Dropdown>
          </Field>
          <Field label={t('audit.from')} validationMessage={errors.from}>
            <Input type="datetime-local" value={draft.from} onChange={set('from')} />
          </Field>
          <Field label={t('audit.to')} validationMessage={errors.to}>
            <Input type="datetime-local" value={draft.to} onChange={set('to')} />
          </Field>
          <div className={styles.actions}>
            <Button type="submit" appearance="primary">
              {t('audit.search')}
            </Button>
          </div>
        </form>
        {error && !error.errors.length && (
          <MessageBar intent="error">
            <MessageBarBody>{error.message}</MessageBarBody>
          </MessageBar>
        )}
        {page && page.items.length === 0 && <Text>{t('audit.none')}</Text>}
        {page && page.items.length > 0 && (
          <div className={styles.tableWrap}>
            <Table aria-label={t('audit.results')} size="small">
              <TableHeader>
                <TableRow>
                  <TableHeaderCell>#</TableHeaderCell>
                  <TableHeaderCell>{t('audit.when')}</TableHeaderCell>
                  <TableHeaderCell>{t('audit.actor')}</TableHeaderCell>
                  <TableHeaderCell>{t('audit.action')}</TableHeaderCell>
                  <TableHeaderCell>{t('audit.outcome')}</TableHeaderCell>
                  <TableHeaderCell>{t('audit.target')}</TableHeaderCell>
                </TableRow>
              </TableHeader>
              <TableBody>
                {page.items.map((e) => (
                  <TableRow key={e.seq}>
                    <TableCell>
                      <EventDialog event={e} />
                    </TableCell>
                    <TableCell>{formatDateTime(e.at, language)}</TableCell>
                    <TableCell>{e.actor.name ?? e.actor.subject}</TableCell>
                    <TableCell>{e.action}</TableCell>
                    <TableCell>{t(`audit.outcome.${e.outcome}`)}</TableCell>
                    <TableCell>{e.target ?? ''}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          </div>
        )}
        <div className={styles.actions}>
          <CursorPagerButtons pages={pages} nextCursor={page?.nextCursor} />
          <Button appearance="subtle" onClick={() => void download('jsonl')}>
            {t('audit.exportJsonl')}
          </Button>
          <Button appearance="subtle" onClick={() => void download('csv')}>
            {t('audit.exportCsv')}
          </Button>
        </div>
      </section>
    </div>
  );
}

function EventDialog({ event }: { event: AuditEvent }) {
  const styles = useStyles();
  const { t } = useI18n();
  return (
    <Dialog>
      <DialogTrigger disableButtonEnhancement>
        <Button appearance="transparent" aria-label={t('audit.open', { seq: event.seq })}>
          {event.seq}
        </Button>
      </DialogTrigger>
      <DialogSurface>
        <DialogBody>
          <DialogTitle>{t('audit.event', { seq: event.seq })}</DialogTitle>
          <DialogContent>
            <pre className={styles.json}>{JSON.stringify(event, null, 2)}</pre>
          </DialogContent>
          <DialogActions>
            <DialogTrigger disableButtonEnhancement>
              <Button>{t('common.close')}</Button>
            </DialogTrigger>
          </DialogActions>
        </DialogBody>
      </DialogSurface>
    </Dialog>
  );
}
