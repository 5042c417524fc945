// The tenant API key: kept for this browser tab's session only (sessionStorage).
import { createContext, useCallback, useContext, useState, type ReactNode } from "react";

const STORAGE = "axonize.apiKey";

interface Auth {
  apiKey: string | null;
  signIn: (key: string) => void;
  signOut: (reason?: string) => void;
  reason: string | null;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [apiKey, setKey] = useState(() => sessionStorage.getItem(STORAGE));
  const [reason, setReason] = useState<string | null>(null);
  const signIn = useCallback((key: string) => {
    sessionStorage.setItem(STORAGE, key);
    setReason(null);
    setKey(key);
  }, []);
  const signOut = useCallback((why?: string) => {
    sessionStorage.removeItem(STORAGE);
    setReason(why ?? null);
    setKey(null);
  }, []);
  return (
    <AuthContext.Provider value={{ apiKey, signIn, signOut, reason }}>
      {children}
    </AuthContext.Provider>
  );
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth outside AuthProvider");
  return auth;
}

/** The key of a signed-in page (pages render only once signed in). */
export function useApiKey(): string {
  const { apiKey } = useAuth();
  if (!apiKey) throw new Error("not signed in");
  return apiKey;
}
