import { Button, Card, CardHeader, Link, makeStyles, MessageBar, MessageBarBody, Spinner, Text, Title1, tokens } from '@fluentui/react-components';
import { signInUrl, useSession } from '../api/session';
import type { Grant, Page } from '../api/types';
import { Countdown, StateBadge } from '../components/GrantState';
import { usePolled } from '../components/hooks';
import { formatDateTime } from '../i18n/format';
import { useI18n } from '../i18n/i18n';
import { onLinkClick } from '../router';

const useStyles = makeStyles({
  page: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalL },
  heading: { margin: 0 },
  portals: { display: 'grid', gap: tokens.spacingHorizontalL, gridTemplateColumns: 'repeat(auto-fit, minmax(18rem, 1fr))' },
  toolbar: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalM, alignItems: 'center', justifyContent: 'space-between' },
  grants: { listStyleType: 'none', margin: 0, padding: 0, display: 'grid', gap: tokens.spacingVerticalM },
  grant: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalM, alignItems: 'center', justifyContent: 'space-between' },
  meta: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalXXS },
});

/** The start page: signed out, what the portals are for and how to sign in; signed in, the requester's own grants. */
export default function Home() {
  const { session, error } = useSession();
  // The daemon could not say who is signed in: the start page, with sign-in, rather than a spinner forever.
  if (!session) return error ? <SignedOutHome /> : <Spinner />;
  return session.signedIn ? <MyAccess /> : <SignedOutHome />;
}

function SignedOutHome() {
  const styles = useStyles();
  const { t } = useI18n();
  return (
    <div className={styles.page}>
      <Title1 as="h1" className={styles.heading} tabIndex={-1}>
        {t('home.title')}
      </Title1>
      <Text>{t('home.intro')}</Text>
      <div className={styles.portals}>
        <Card>
          <CardHeader
            header={
              <Text as="h2" weight="semibold" size={500} className={styles.heading}>
                {t('home.elevation.title')}
              </Text>
            }
          />
          <Text>{t('home.elevation.body')}</Text>
        </Card>
        <Card>
          <CardHeader
            header={
              <Text as="h2" weight="semibold" size={500} className={styles.heading}>
                {t('home.escalation.title')}
              </Text>
            }
          />
          <Text>{t('home.escalation.body')}</Text>
        </Card>
      </div>
      <div>
        <Button as="a" appearance="primary" size="large" href={signInUrl('/')}>
          {t('home.signIn')}
        </Button>
      </div>
    </div>
  );
}

function MyAccess() {
  const styles = useStyles();
  const { t, language } = useI18n();
  const { session } = useSession();
  const requester = session?.signedIn && session.principal.roles.includes('requester');
  const { data, error } = usePolled<Page<Grant>>(requester ? '/v1/grants?limit=50&order=newest' : undefined);
  return (
    <div className={styles.page}>
      <div className={styles.toolbar}>
        <Title1 as="h1" className={styles.heading} tabIndex={-1}>
          {t('mine.title')}
        </Title1>
        {requester && (
          <Button as="a" appearance="primary" href="/request" onClick={onLinkClick('/request')}>
            {t('mine.request')}
          </Button>
        )}
      </div>
      {!requester && (
        <MessageBar intent="info">
          <MessageBarBody>{t('mine.notRequester')}</MessageBarBody>
        </MessageBar>
      )}
      {error && (
        <MessageBar intent="error">
          <MessageBarBody>{error.message}</MessageBarBody>
        </MessageBar>
      )}
      {requester && !data && !error && <Spinner label={t('common.loading')} />}
      {data && data.items.length === 0 && <Text>{t('mine.empty')}</Text>}
      {data && data.items.length > 0 && (
        <ul className={styles.grants} aria-label={t('mine.listLabel')}>
          {data.items.map((g) => (
            <li key={g.id}>
              <Card>
                <div className={styles.grant}>
                  <div className={styles.meta}>
                    <Link href={`/grants/${g.id}`} onClick={onLinkClick(`/grants/${g.id}`)}>
                      <Text weight="semibold">{g.deviceId}</Text>
                    </Link>
                    <Text size={200}>
                      {t('mine.requestedAt', { time: formatDateTime(g.createdAt, language) })} · {g.reason}
                    </Text>
                  </div>
                  <div className={styles.meta}>
                    <StateBadge state={g.state} />
                    {g.state === 'active' && g.expiresAt && <Countdown expiresAt={g.expiresAt} />}
                  </div>
                </div>
              </Card>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
