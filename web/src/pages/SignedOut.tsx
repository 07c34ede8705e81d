import { Button, makeStyles, MessageBar, MessageBarBody, Text, Title1, tokens } from '@fluentui/react-components';
import { signInUrl, useSession } from '../api/session';
import { useI18n } from '../i18n/i18n';
import { onLinkClick, queryParam } from '../router';
import type { MessageKey } from '../i18n/en';

const useStyles = makeStyles({
  page: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalL, maxWidth: '40rem' },
  heading: { margin: 0 },
});

const errors = ['sign-in-failed', 'sign-in-expired', 'access-denied'] as const;

/** Where sign-out lands, and a failed sign-in: a fixed message per error word, never text from the URL. */
export default function SignedOut() {
  const styles = useStyles();
  const { t } = useI18n();
  const error = queryParam('error');
  const known = errors.find((e) => e === error);
  const { session } = useSession();
  // A sign-in begun while signed in (the step-up before a reveal) that did not complete leaves the session as it was.
  const stillSignedIn = session?.signedIn === true;
  return (
    <div className={styles.page}>
      <Title1 as="h1" className={styles.heading} tabIndex={-1}>
        {known ? t('signedOut.failedTitle') : t('signedOut.title')}
      </Title1>
      {known ? (
        <MessageBar intent="error">
          <MessageBarBody>{t(`signedOut.${known}` as MessageKey)}</MessageBarBody>
        </MessageBar>
      ) : (
        <Text>{t('signedOut.body')}</Text>
      )}
      {stillSignedIn && <Text>{t('signedOut.stillSignedIn', { name: session.principal.name ?? session.principal.subject })}</Text>}
      <div>
        {stillSignedIn ? (
          <Button as="a" appearance="primary" href="/" onClick={onLinkClick('/')}>
            {t('signedOut.continue')}
          </Button>
        ) : (
          <Button as="a" appearance="primary" href={signInUrl('/')}>
            {t('home.signIn')}
          </Button>
        )}
      </div>
    </div>
  );
}
