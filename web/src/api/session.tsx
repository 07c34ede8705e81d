import { createContext, ReactNode, useCallback, useContext, useEffect, useState } from 'react';
import { ApiError, asApiError, getJson, send, setCsrfToken, setOnSessionEnded } from './http';
import type { SessionInfo } from './types';

interface SessionState {
  /** Undefined while the first answer is on its way. */
  session?: SessionInfo;
  error?: ApiError;
  reload: () => Promise<void>;
  signOut: () => Promise<void>;
}

const SessionContext = createContext<SessionState | undefined>(undefined);

/** Where the browser goes to sign in, and comes back to afterwards. */
export function signInUrl(returnTo: string, authContext?: string): string {
  const q = new URLSearchParams({ returnTo });
  if (authContext) q.set('authContext', authContext);
  return `/auth/sign-in?${q.toString()}`;
}

/** The signed-in person as the daemon's server-side session knows them (never from browser storage). */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<SessionInfo>();
  const [error, setError] = useState<ApiError>();
  const reload = useCallback(async () => {
    try {
      const s = await getJson<SessionInfo>('/auth/session');
      setCsrfToken(s.signedIn ? s.csrfToken : undefined);
      setSession(s);
      setError(undefined);
    } catch (e) {
      setError(asApiError(e));
    }
  }, []);
  const signOut = useCallback(async () => {
    await send('DELETE', '/auth/session');
    setCsrfToken(undefined);
    // A full navigation, replacing this entry: no page of the signed-in session stays in history.
    window.location.replace('/signed-out');
  }, []);
  useEffect(() => {
    void reload();
    // A session that ended on the server (idle, signed out elsewhere, expired) is noticed at the next call: ask again, and the pages follow.
    setOnSessionEnded(() => void reload());
    return () => setOnSessionEnded(undefined);
  }, [reload]);
  return <SessionContext.Provider value={{ session, error, reload, signOut }}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}
