import {
  Button,
  Card,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  DialogTrigger,
  makeStyles,
  MessageBar,
  MessageBarBody,
  Spinner,
  Text,
  Title1,
  Title3,
  tokens,
} from '@fluentui/react-components';
import { useEffect, useState } from 'react';
import { ApiError, asApiError, getJson, send } from '../api/http';
import { signInUrl, useSession } from '../api/session';
import type { Grant, Reveal, Timeline as TimelineData } from '../api/types';
import { Countdown, StateBadge } from '../components/GrantState';
import { useNow, usePolled } from '../components/hooks';
import { PasswordView } from '../components/PasswordView';
import { Timeline } from '../components/Timeline';
import { formatDateTime, formatDuration, isoDurationSeconds } from '../i18n/format';
import { useI18n } from '../i18n/i18n';

const useStyles = makeStyles({
  page: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalL },
  heading: { margin: 0, overflowWrap: 'anywhere' },
  facts: { display: 'grid', gridTemplateColumns: 'max-content 1fr', gap: `${tokens.spacingVerticalXS} ${tokens.spacingHorizontalL}`, margin: 0 },
  term: { color: tokens.colorNeutralForeground2 },
  detail: { margin: 0, overflowWrap: 'anywhere' },
  section: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM },
  actions: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalM },
});

/** How long a revealed password stays on the page. */
const revealVisibleMs = 60_000;

export default function GrantPage({ id }: { id: string }) {
  const styles = useStyles();
  const { t, language } = useI18n();
  const { session } = useSession();
  const { data: grant, error, refresh } = usePolled<Grant>(`/v1/grants/${id}`);
  const { data: timeline, refresh: refreshTimeline } = usePolled<TimelineData>(`/v1/grants/${id}/timeline`, 8000);
  const me = session?.signedIn ? session.principal.subject : undefined;
  const mine = !!grant && grant.requester === me;
  const live = !!grant && grant.state === 'active' && !!grant.expiresAt && Date.parse(grant.expiresAt) > Date.now();

  if (error?.status === 404) {
    return (
      <MessageBar intent="error">
        <MessageBarBody>{t('grant.notFound')}</MessageBarBody>
      </MessageBar>
    );
  }
  if (!grant) return error ? <Text>{error.message}</Text> : <Spinner label={t('common.loading')} />;
  return (
    <div className={styles.page}>
      <Title1 as="h1" className={styles.heading} tabIndex={-1}>
        {t('grant.title', { device: grant.deviceId })}
      </Title1>
      <div className={styles.actions}>
        <StateBadge state={grant.state} />
        {grant.state === 'active' && grant.expiresAt && <Countdown expiresAt={grant.expiresAt} />}
      </div>
      <dl className={styles.facts}>
        <dt className={styles.term}>{t('grant.requester')}</dt>
        <dd className={styles.detail}>{grant.requesterName ?? grant.requester}</dd>
        <dt className={styles.term}>{t('grant.reason')}</dt>
        <dd className={styles.detail}>{grant.reason}</dd>
        {grant.ticket && (
          <>
            <dt className={styles.term}>{t('grant.ticket')}</dt>
            <dd className={styles.detail}>{grant.ticket}</dd>
          </>
        )}
        <dt className={styles.term}>{t('grant.duration')}</dt>
        <dd className={styles.detail}>{formatDuration(isoDurationSeconds(grant.duration), language)}</dd>
        <dt className={styles.term}>{t('grant.requested')}</dt>
        <dd className={styles.detail}>{formatDateTime(grant.createdAt, language)}</dd>
        {grant.endedAt ? (
          <>
            <dt className={styles.term}>{t('grant.endedAt')}</dt>
            <dd className={styles.detail}>{formatDateTime(grant.endedAt, language)}</dd>
          </>
        ) : (
          grant.expiresAt && (
            <>
              <dt className={styles.term}>{t('grant.expires')}</dt>
              <dd className={styles.detail}>{formatDateTime(grant.expiresAt, language)}</dd>
            </>
          )
        )}
      </dl>
      {grant.state === 'pending' && mine && (
        <MessageBar intent="info">
          <MessageBarBody>{t('grant.waiting')}</MessageBarBody>
        </MessageBar>
      )}
      {mine && live && <RevealPanel grant={grant} onChanged={() => (refresh(), refreshTimeline())} />}
      <section className={styles.section} aria-labelledby="timeline-heading">
        <Title3 as="h2" id="timeline-heading" className={styles.heading}>
          {t('timeline.title')}
        </Title3>
        {timeline ? <Timeline timeline={timeline} /> : <Spinner size="tiny" />}
      </section>
    </div>
  );
}

/**
 * Reveal on an explicit click; the password lives in this component's state only (no storage, no
 * URL, no history) and leaves memory and the page after a minute or when the grant ends.
 */
function RevealPanel({ grant, onChanged }: { grant: Grant; onChanged: () => void }) {
  const styles = useStyles();
  const { t } = useI18n();
  const [reveal, setReveal] = useState<Reveal>();
  const [revealedAt, setRevealedAt] = useState<number>();
  const [error, setError] = useState<ApiError>();
  const [notice, setNotice] = useState<string>();
  const [busy, setBusy] = useState(false);
  const now = useNow(500);
  const expiresAt = grant.expiresAt ? Date.parse(grant.expiresAt) : 0;

  // Gone after a minute, or as soon as the grant is over, whichever is first.
  useEffect(() => {
    if (reveal && revealedAt !== undefined && (now - revealedAt >= revealVisibleMs || now >= expiresAt)) {
      setReveal(undefined);
      setNotice(t('reveal.removed'));
    }
  }, [now, reveal, revealedAt, expiresAt, t]);

  const doReveal = async () => {
    setBusy(true);
    setError(undefined);
    setNotice(undefined);
    try {
      const r = await getJson<Reveal>(`/v1/grants/${grant.id}/password`);
      setReveal(r);
      setRevealedAt(Date.now());
      // The reveal is on the timeline now; asked once the password is on screen, not in the same render.
      requestAnimationFrame(() => setTimeout(onChanged, 0));
    } catch (e) {
      if (e instanceof ApiError && e.stepUp) {
        // Through Entra again for the authentication context the reveal needs, then back to this grant.
        window.location.assign(signInUrl(`/grants/${grant.id}`, e.stepUp));
        return;
      }
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  };

  const done = async () => {
    setReveal(undefined);
    try {
      await send('POST', `/v1/grants/${grant.id}/revoke`, { reason: t('grant.doneReason') });
      setNotice(t('grant.ended'));
    } catch (e) {
      setError(asApiError(e));
    }
    onChanged();
  };

  return (
    <Card>
      <div className={styles.section}>
        <Title3 as="h2" className={styles.heading}>
          {t('reveal.title')}
        </Title3>
        {reveal ? (
          <>
            <Text>
              {t('reveal.account')} <Text weight="semibold">{reveal.account}</Text>
            </Text>
            {reveal.changedSinceLastReveal && (
              <MessageBar intent="warning">
                <MessageBarBody>{t('reveal.changed')}</MessageBarBody>
              </MessageBar>
            )}
            {reveal.unconfirmed && (
              <MessageBar intent="warning">
                <MessageBarBody>{t('reveal.unconfirmed')}</MessageBarBody>
              </MessageBar>
            )}
            <PasswordView password={reveal.password} onCopied={() => setNotice(t('reveal.copied'))} />
            {reveal.possiblyInEffect && (
              <>
                <MessageBar intent="warning">
                  <MessageBarBody>{t('reveal.possiblyInEffect', { version: reveal.possiblyInEffect.version })}</MessageBarBody>
                </MessageBar>
                <PasswordView password={reveal.possiblyInEffect.password} onCopied={() => setNotice(t('reveal.copied'))} />
              </>
            )}
            <Text size={200}>{t('reveal.willHide', { seconds: Math.max(0, Math.ceil((revealVisibleMs - (now - (revealedAt ?? now))) / 1000)) })}</Text>
          </>
        ) : (
          <div>
            <Button appearance="primary" onClick={() => void doReveal()} disabled={busy}>
              {t('reveal.button')}
            </Button>
          </div>
        )}
        <div role="status" aria-live="polite">
          {notice}
        </div>
        {error && (
          <MessageBar intent="error">
            <MessageBarBody>{error.message}</MessageBarBody>
          </MessageBar>
        )}
        <div className={styles.actions}>
          <Dialog>
            <DialogTrigger disableButtonEnhancement>
              <Button>{t('grant.done')}</Button>
            </DialogTrigger>
            <DialogSurface>
              <DialogBody>
                <DialogTitle>{t('grant.doneTitle')}</DialogTitle>
                <DialogContent>{t('grant.doneBody')}</DialogContent>
                <DialogActions>
                  <DialogTrigger disableButtonEnhancement>
                    <Button appearance="primary" onClick={() => void done()}>
                      {t('grant.doneConfirm')}
                    </Button>
                  </DialogTrigger>
                  <DialogTrigger disableButtonEnhancement>
                    <Button>{t('common.cancel')}</Button>
                  </DialogTrigger>
                </DialogActions>
              </DialogBody>
            </DialogSurface>
          </Dialog>
        </div>
      </div>
    </Card>
  );
}
