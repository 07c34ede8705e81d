import { useSyncExternalStore } from 'react';

/** The portal's pages by path. A page module is loaded when first shown, so each page's code is its own chunk. */
export type PageName = 'home' | 'not-found';

export function pageOf(pathname: string): PageName {
  return pathname === '/' ? 'home' : 'not-found';
}

const subscribe = (onChange: () => void) => {
  window.addEventListener('popstate', onChange);
  return () => window.removeEventListener('popstate', onChange);
};

/** The current path; changes on back/forward and on navigate(). */
export function usePathname(): string {
  return useSyncExternalStore(subscribe, () => window.location.pathname);
}

export function navigate(to: string): void {
  window.history.pushState(null, '', to);
  window.dispatchEvent(new PopStateEvent('popstate'));
}
