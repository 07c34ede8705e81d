import { Button, Dropdown, Link, makeStaticStyles, makeStyles, Option, Spinner, Text, tokens } from '@fluentui/react-components';
import { lazy, Suspense, useEffect } from 'react';
import { signInUrl, useSession } from './api/session';
import type { Role } from './api/types';
import type { MessageKey } from './i18n/en';
import { Language, languages, useI18n } from './i18n/i18n';
import Home from './pages/Home';
import { onLinkClick, Route, routeOf, usePathname } from './router';

// The start page is in the main chunk: every visit begins there, and a lazy chunk would be a second
// round trip before the first paint. Every other page is a chunk of its own, loaded when first shown.
const RequestAccess = lazy(() => import('./pages/RequestAccess'));
const GrantPage = lazy(() => import('./pages/GrantPage'));
const Approvals = lazy(() => import('./pages/Approvals'));
const Escalations = lazy(() => import('./pages/Escalations'));
const Audit = lazy(() => import('./pages/Audit'));
const Devices = lazy(() => import('./pages/Devices'));
const Policies = lazy(() => import('./pages/Policies'));
const DevSignIn = lazy(() => import('./pages/DevSignIn'));
const SignedOut = lazy(() => import('./pages/SignedOut'));
const NotFound = lazy(() => import('./pages/NotFound'));

// Pages that show nothing to a signed-out visitor: they go through sign-in and come back.
const needsSession: ReadonlySet<Route['page']> = new Set(['request', 'grant', 'approvals', 'escalations', 'audit', 'devices', 'policies']);

// The portal's sections, each shown to the roles whose pages it holds (the API refuses the rest whatever the menu shows).
const navItems: Array<{ path: string; label: MessageKey; roles: Role[] }> = [
  { path: '/', label: 'nav.mine', roles: ['requester'] },
  { path: '/approvals', label: 'nav.approvals', roles: ['approver'] },
  { path: '/escalations', label: 'nav.escalations', roles: ['requester', 'approver', 'admin', 'auditor'] },
  { path: '/audit', label: 'nav.audit', roles: ['auditor'] },
  { path: '/devices', label: 'nav.devices', roles: ['admin'] },
  { path: '/policies', label: 'nav.policies', roles: ['admin'] },
];

// The page itself: no browser margin around the shell.
const useGlobalStyles = makeStaticStyles({ body: { margin: 0 } });

const useStyles = makeStyles({
  shell: { minHeight: '100vh', display: 'flex', flexDirection: 'column', backgroundColor: tokens.colorNeutralBackground2 },
  header: {
    display: 'flex',
    flexWrap: 'wrap',
    alignItems: 'center',
    justifyContent: 'space-between',
    gap: tokens.spacingHorizontalM,
    padding: `${tokens.spacingVerticalS} ${tokens.spacingHorizontalXL}`,
    backgroundColor: tokens.colorBrandBackground,
    color: tokens.colorNeutralForegroundOnBrand,
  },
  brand: { display: 'flex', flexDirection: 'column', color: tokens.colorNeutralForegroundOnBrand, textDecorationLine: 'none' },
  tools: { display: 'flex', flexWrap: 'wrap', alignItems: 'center', gap: tokens.spacingHorizontalM },
  onBrand: { color: tokens.colorNeutralForegroundOnBrand },
  // Two language names need no 250px field: the header stays one line on a phone.
  languagePicker: { minWidth: '9rem' },
  nav: {
    display: 'flex',
    flexWrap: 'wrap',
    gap: tokens.spacingHorizontalL,
    padding: `${tokens.spacingVerticalS} ${tokens.spacingHorizontalXL}`,
    backgroundColor: tokens.colorNeutralBackground1,
    borderBottom: `${tokens.strokeWidthThin} solid ${tokens.colorNeutralStroke2}`,
  },
  current: { fontWeight: tokens.fontWeightSemibold, textDecorationLine: 'underline' },
  // Hidden until it has the focus: the first Tab on every page offers to skip the header (WCAG 2.4.1).
  skip: {
    position: 'absolute',
    left: '-10000px',
    top: tokens.spacingVerticalS,
    padding: tokens.spacingHorizontalS,
    backgroundColor: tokens.colorNeutralBackground1,
    color: tokens.colorBrandForeground1,
    ':focus': { left: tokens.spacingHorizontalS, zIndex: 1 },
  },
  main: { flexGrow: 1, padding: `${tokens.spacingVerticalXXL} ${tokens.spacingHorizontalXL}`, maxWidth: '72rem', width: '100%', boxSizing: 'border-box', margin: '0 auto' },
});

function PageOf({ route }: { route: Route }) {
  switch (route.page) {
    case 'home':
      return <Home />;
    case 'request':
      return <RequestAccess />;
    case 'grant':
      // Keyed by grant: moving between two grants never carries one's revealed password to the other's page.
      return <GrantPage key={route.id} id={route.id} />;
    case 'approvals':
      return <Approvals />;
    case 'escalations':
      return <Escalations />;
    case 'audit':
      return <Audit />;
    case 'devices':
      return <Devices />;
    case 'policies':
      return <Policies />;
    case 'dev-sign-in':
      return <DevSignIn />;
    case 'signed-out':
      return <SignedOut />;
    default:
      return <NotFound />;
  }
}

export function App() {
  useGlobalStyles();
  const styles = useStyles();
  const { t, language, setLanguage } = useI18n();
  const { session, signOut } = useSession();
  const path = usePathname();
  const route = routeOf(path);
  useEffect(() => {
    document.title = t('app.name');
  }, [t]);
  const mustSignIn = session?.signedIn === false && needsSession.has(route.page);
  useEffect(() => {
    if (mustSignIn) window.location.assign(signInUrl(window.location.pathname));
  }, [mustSignIn]);
  return (
    <div className={styles.shell}>
      <a className={styles.skip} href="#main">
        {t('app.skip')}
      </a>
      <header className={styles.header}>
        <a className={styles.brand} href="/" onClick={onLinkClick('/')}>
          <Text as="span" size={500} weight="semibold">
            {t('app.name')}
          </Text>
          <Text as="span" size={200}>
            {t('app.tagline')}
          </Text>
        </a>
        <div className={styles.tools}>
          <Text as="span" id="language-label" className={styles.onBrand}>
            {t('lang.label')}
          </Text>
          <Dropdown
            className={styles.languagePicker}
            aria-labelledby="language-label"
            value={t(`lang.${language}`)}
            selectedOptions={[language]}
            onOptionSelect={(_e, d) => d.optionValue && setLanguage(d.optionValue as Language)}
          >
            {languages.map((l) => (
              <Option key={l} value={l} lang={l}>
                {t(`lang.${l}`)}
              </Option>
            ))}
          </Dropdown>
          {session?.signedIn && (
            <>
              <Text as="span" className={styles.onBrand} data-testid="signed-in-as">
                {session.principal.name ?? session.principal.subject}
              </Text>
              <Button onClick={() => void signOut()}>{t('app.signOut')}</Button>
            </>
          )}
          {session?.signedIn === false && route.page !== 'dev-sign-in' && (
            <Link className={styles.onBrand} href={signInUrl(path)}>
              {t('home.signIn')}
            </Link>
          )}
        </div>
      </header>
      {session?.signedIn && (
        <nav className={styles.nav} aria-label={t('nav.label')}>
          {navItems
            .filter((n) => n.roles.some((r) => session.principal.roles.includes(r)))
            .map((n) => (
              <Link
                key={n.path}
                href={n.path}
                onClick={onLinkClick(n.path)}
                aria-current={path === n.path ? 'page' : undefined}
                className={path === n.path ? styles.current : undefined}
              >
                {t(n.label)}
              </Link>
            ))}
        </nav>
      )}
      <main className={styles.main} id="main" tabIndex={-1}>
        <Suspense fallback={<Spinner />}>{mustSignIn ? <Spinner /> : <PageOf route={route} />}</Suspense>
      </main>
    </div>
  );
}
