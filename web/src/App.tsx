import { Dropdown, makeStaticStyles, makeStyles, Option, Spinner, Text, tokens } from '@fluentui/react-components';
import { lazy, Suspense, useEffect } from 'react';
import { Language, languages, useI18n } from './i18n/i18n';
import Home from './pages/Home';
import { pageOf, usePathname } from './router';

// The start page is in the main chunk: every visit begins there, and a lazy chunk would be a second
// round trip before the first paint. Every other page is a chunk of its own, loaded when first shown.
const pages = {
  home: Home,
  'not-found': lazy(() => import('./pages/NotFound')),
};

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
  brand: { display: 'flex', flexDirection: 'column' },
  language: { display: 'flex', alignItems: 'center', gap: tokens.spacingHorizontalS },
  languageLabel: { color: tokens.colorNeutralForegroundOnBrand },
  main: { flexGrow: 1, padding: `${tokens.spacingVerticalXXL} ${tokens.spacingHorizontalXL}`, maxWidth: '72rem', width: '100%', boxSizing: 'border-box', margin: '0 auto' },
});

export function App() {
  useGlobalStyles();
  const styles = useStyles();
  const { t, language, setLanguage } = useI18n();
  const page = pageOf(usePathname());
  const Page = pages[page];
  useEffect(() => {
    document.title = t('app.name');
  }, [t]);
  return (
    <div className={styles.shell}>
      <header className={styles.header}>
        <div className={styles.brand}>
          <Text as="span" size={500} weight="semibold">
            {t('app.name')}
          </Text>
          <Text as="span" size={200}>
            {t('app.tagline')}
          </Text>
        </div>
        <div className={styles.language}>
          <Text as="span" id="language-label" className={styles.languageLabel}>
            {t('lang.label')}
          </Text>
          <Dropdown
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
        </div>
      </header>
      <main className={styles.main}>
        <Suspense fallback={<Spinner />}>
          <Page />
        </Suspense>
      </main>
    </div>
  );
}
