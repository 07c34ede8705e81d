import { Button, Card, Field, Link, makeStyles, MessageBar, MessageBarBody, Spinner, Text, Textarea, Title1, Title3, tokens } from '@fluentui/react-components';
import { useState } from 'react';
import { ApiError, asApiError, getJson, send } from '../api/http';
import type { Grant, Page } from '../api/types';
import { StateBadge } from '../components/GrantState';
import { usePolled } from '../components/hooks';
import { formatDateTime, formatDuration, isoDurationSeconds } from '../i18n/format';
import { useI18n } from '../i18n/i18n';
import { onLinkClick } from '../router';

const useStyles = makeStyles({
  page: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalL },
  heading: { margin: 0, overflowWrap: 'anywhere' },
  queue: { listStyleType: 'none', margin: 0, padding: 0, display: 'grid', gap: tokens.spacingVerticalL },
  facts: { display: 'grid', gridTemplateColumns: 'max-content 1fr', gap: `${tokens.spacingVerticalXS} ${tokens.spacingHorizontalL}`, margin: 0 },
  term: { color: tokens.colorNeutralForeground2 },
  detail: { margin: 0, overflowWrap: 'anywhere' },
  actions: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalM },
  earlier: { margin: 0, paddingLeft: tokens.spacingHorizontalXL },
});

/** The approver's queue: pending requests they may decide (never their own), kept current by polling. */
export default function Approvals() {
  const styles = useStyles();
  const { t } = useI18n();
  const { data, error, refresh } = usePolled<Page<Grant>>('/v1/grants?state=pending&decidable=true&limit=50', 3000);
  return (
    <div className={styles.page}>
      <Title1 as="h1" className={styles.heading} tabIndex={-1}>
        {t('approvals.title')}
      </Title1>
      {error && (
        <MessageBar intent="error">
          <MessageBarBody>{error.message}</MessageBarBody>
        </MessageBar>
      )}
      {!data && !error && <Spinner label={t('common.loading')} />}
      {data && data.items.length === 0 && <Text>{t('approvals.empty')}</Text>}
      {data && data.items.length > 0 && (
        <ul className={styles.queue} aria-label={t('approvals.title')}>
          {data.items.map((g) => (
            <li key={g.id}>
              <PendingRequest grant={g} onDecided={refresh} />
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function PendingRequest({ grant, onDecided }: { grant: Grant; onDecided: () => void }) {
  const styles = useStyles();
  const { t, language } = useI18n();
  const [comment, setComment] = useState('');
  const [error, setError] = useState<ApiError>();
  const [busy, setBusy] = useState(false);
  const [earlier, setEarlier] = useState<Grant[]>();
  const headingId = `request-${grant.id}`;

  const decide = async (how: 'approve' | 'deny') => {
    setBusy(true);
    setError(undefined);
    try {
      await send('POST', `/v1/grants/${grant.id}/${how}`, how === 'approve' ? (comment ? { comment } : {}) : { reason: comment });
      onDecided();
    } catch (e) {
      setError(asApiError(e));
      // Decided by someone else meanwhile: the queue drops it on the next poll; ask now.
      if (e instanceof ApiError && e.status === 409) onDecided();
    } finally {
      setBusy(false);
    }
  };
  const loadEarlier = async () => {
    const page = await getJson<Page<Grant>>(`/v1/grants?deviceId=${encodeURIComponent(grant.deviceId)}&limit=6&order=newest`);
    setEarlier(page.items.filter((g) => g.id !== grant.id).slice(0, 5));
  };

  return (
    <Card aria-labelledby={headingId}>
      <Title3 as="h2" id={headingId} className={styles.heading}>
        {t('approvals.request', { who: grant.requesterName ?? grant.requester, device: grant.deviceId })}
      </Title3>
      <dl className={styles.facts}>
        <dt className={styles.term}>{t('grant.reason')}</dt>
        <dd className={styles.detail}>{grant.reason}</dd>
        <dt className={styles.term}>{t('grant.ticket')}</dt>
        <dd className={styles.detail}>{grant.ticket ?? '—'}</dd>
        <dt className={styles.term}>{t('grant.duration')}</dt>
        <dd className={styles.detail}>{formatDuration(isoDurationSeconds(grant.duration), language)}</dd>
        <dt className={styles.term}>{t('grant.requested')}</dt>
        <dd className={styles.detail}>{formatDateTime(grant.createdAt, language)}</dd>
      </dl>
      {earlier === undefined ? (
        <div>
          <Button appearance="subtle" onClick={() => void loadEarlier()}>
            {t('approvals.showEarlier')}
          </Button>
        </div>
      ) : earlier.length === 0 ? (
        <Text size={200}>{t('approvals.noEarlier')}</Text>
      ) : (
        <ul className={styles.earlier} aria-label={t('approvals.earlier', { device: grant.deviceId })}>
          {earlier.map((g) => (
            <li key={g.id}>
              <Link href={`/grants/${g.id}`} onClick={onLinkClick(`/grants/${g.id}`)}>
                {formatDateTime(g.createdAt, language)}
              </Link>{' '}
              {g.requesterName ?? g.requester} — {g.reason} <StateBadge state={g.state} />
            </li>
          ))}
        </ul>
      )}
      <Field label={t('approvals.comment')} hint={t('approvals.commentHint')} validationMessage={error?.errors[0]?.message}>
        <Textarea value={comment} maxLength={500} onChange={(_e, d) => setComment(d.value)} resize="vertical" />
      </Field>
      {error && !error.errors.length && (
        <MessageBar intent="error">
          <MessageBarBody>{error.message}</MessageBarBody>
        </MessageBar>
      )}
      <div className={styles.actions}>
        <Button appearance="primary" disabled={busy} onClick={() => void decide('approve')}>
          {t('approvals.approve')}
        </Button>
        <Button disabled={busy || !comment.trim()} onClick={() => void decide('deny')}>
          {t('approvals.deny')}
        </Button>
      </div>
    </Card>
  );
}
