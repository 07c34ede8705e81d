import { useEffect, useRef, useState } from 'react';
import { ApiError, asApiError, getIfChanged } from '../api/http';

/** The time now, updated every `everyMs` (a countdown's tick). */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

/**
 * A resource the page keeps up to date by polling with its ETag: the daemon answers 304 while
 * nothing changed, so a page left open costs a few bytes every few seconds. Paused while the tab is
 * hidden; refreshed at once when it shows again.
 */
export function usePolled<T>(path: string | undefined, everyMs = 4000): { data?: T; error?: ApiError; refresh: () => void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError>();
  const etag = useRef<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    etag.current = undefined;
    setData(undefined);
  }, [path]);
  useEffect(() => {
    if (!path) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let first = true;
    // Each load's number: an answer older than one already applied is dropped (a load on the tab
    // showing again can overlap the loop's own).
    let issued = 0;
    let applied = 0;
    const load = async () => {
      if (document.visibilityState === 'hidden') return;
      // The page's first load is the person's doing; every later one is the page's own.
      const background = !first;
      first = false;
      const n = ++issued;
      try {
        const r = await getIfChanged<T>(path, etag.current, background);
        if (stopped || n < applied) return;
        applied = n;
        if (r.body !== undefined) setData(r.body);
        etag.current = r.etag;
        setError(undefined);
      } catch (e) {
        if (stopped) return;
        const problem = asApiError(e);
        setError(problem);
        // Signed out (the session provider is asking again): polling on would only be refused.
        if (problem.status === 401) stopped = true;
      }
    };
    const loop = async () => {
      await load();
      if (!stopped) timer = setTimeout(() => void loop(), everyMs);
    };
    void loop();
    const onVisible = () => {
      if (document.visibilityState === 'visible') void load();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [path, everyMs, tick]);
  return { data, error, refresh: () => setTick((n) => n + 1) };
}
