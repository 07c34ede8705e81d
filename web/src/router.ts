import { useSyncExternalStore } from 'react';

/** The portal's pages by path. A page module is loaded when first shown, so each page's code is its own chunk. */
export type Route = { page: FixedPage } | { page: 'grant'; id: string } | { page: 'not-found' };

// Pages at one fixed path each.
const fixed = {
  '/': 'home',
  '/request': 'request',
  '/approvals': 'approvals',
  '/escalations': 'escalations',
  '/audit': 'audit',
  '/devices': 'devices',
  '/policies': 'policies',
  '/dev-sign-in': 'dev-sign-in',
  '/signed-out': 'signed-out',
} as const;
type FixedPage = (typeof fixed)[keyof typeof fixed];

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function routeOf(pathname: string): Route {
  if (Object.hasOwn(fixed, pathname)) return { page: fixed[pathname as keyof typeof fixed] };
  const grant = /^\/grants\/([^/]+)$/.exec(pathname)?.[1];
  if (grant && uuid.test(grant)) return { page: 'grant', id: grant };
  return { page: 'not-found' };
}

const subscribe = (onChange: () => void) => {
  window.addEventListener('popstate', onChange);
  return () => window.removeEventListener('popstate', onChange);
};

/** The current path; changes on back/forward and on navigate(). */
export function usePathname(): string {
  return useSyncExternalStore(subscribe, () => window.location.pathname);
}

/** The current query string's parameters (read once per render). */
export function queryParam(name: string): string | undefined {
  return new URLSearchParams(window.location.search).get(name) ?? undefined;
}

export function navigate(to: string): void {
  window.history.pushState(null, '', to);
  window.dispatchEvent(new PopStateEvent('popstate'));
  // Focus moves to the new page's heading (WCAG 2.4.3): a keyboard or screen-reader user starts there.
  requestAnimationFrame(() => document.querySelector<HTMLElement>('main h1')?.focus());
}

/** A same-origin link that navigates without a page load; modified clicks keep the browser's own behaviour. */
export function onLinkClick(to: string) {
  return (e: { preventDefault: () => void; metaKey: boolean; ctrlKey: boolean; shiftKey: boolean; button?: number }) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || (e.button !== undefined && e.button !== 0)) return;
    e.preventDefault();
    navigate(to);
  };
}
