import { createContext, ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { en, MessageKey, Messages } from './en';
import { nl } from './nl';

export const languages = ['en', 'nl'] as const;
export type Language = (typeof languages)[number];
const catalogues: Record<Language, Messages> = { en, nl };
const storageKey = 'jitbroker.language';

/** The user's own choice if they made one, else the first of the browser's languages the portal speaks, else English. */
export function initialLanguage(): Language {
  const chosen = localStorage.getItem(storageKey);
  if (chosen && (languages as readonly string[]).includes(chosen)) return chosen as Language;
  for (const tag of navigator.languages ?? [navigator.language]) {
    const base = tag.toLowerCase().split('-')[0];
    if ((languages as readonly string[]).includes(base ?? '')) return base as Language;
  }
  return 'en';
}

interface I18n {
  language: Language;
  setLanguage: (l: Language) => void;
  /** The message in the current language; `{name}` placeholders filled from `vars`. */
  t: (key: MessageKey, vars?: Record<string, string | number>) => string;
}

const I18nContext = createContext<I18n | undefined>(undefined);

export function I18nProvider({ children }: { children: ReactNode }) {
  const [language, setLanguageState] = useState<Language>(initialLanguage);
  useEffect(() => {
    // Screen readers pick their voice from <html lang>.
    document.documentElement.lang = language;
  }, [language]);
  const setLanguage = useCallback((l: Language) => {
    localStorage.setItem(storageKey, l);
    setLanguageState(l);
  }, []);
  const value = useMemo<I18n>(
    () => ({
      language,
      setLanguage,
      t: (key, vars) => catalogues[language][key].replace(/\{(\w+)\}/g, (whole, name: string) => (vars && name in vars ? String(vars[name]) : whole)),
    }),
    [language, setLanguage],
  );
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  const i18n = useContext(I18nContext);
  if (!i18n) throw new Error('useI18n outside I18nProvider');
  return i18n;
}
