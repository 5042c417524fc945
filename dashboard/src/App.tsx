// The app: a signed-in session (tenant key), the query cache, and the pages behind the URL's
// hash (#/traces?..., #/traces/<id>, #/gpus/<uuid>, #/analytics): links can be shared.
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { lazy, Suspense, useMemo } from "react";
import { HashRouter, Navigate, NavLink, Route, Routes } from "react-router-dom";
import { ApiError } from "./api/client";
import { AuthProvider, useAuth } from "./auth";
import { Loading } from "./components/States";
import { UnloadedNotice } from "./components/UnloadedNotice";
import { SignIn } from "./pages/SignIn";
import { TracePage } from "./pages/TracePage";
import { TracesPage } from "./pages/TracesPage";

// The chart pages load on first visit: a trace opens without parsing the chart library.
const GpusPage = lazy(() => import("./pages/GpusPage").then((m) => ({ default: m.GpusPage })));
const AnalyticsPage = lazy(() =>
  import("./pages/AnalyticsPage").then((m) => ({ default: m.AnalyticsPage })),
);

export function App() {
  return (
    <AuthProvider>
      <Session />
    </AuthProvider>
  );
}

function Session() {
  const { apiKey, signOut } = useAuth();
  // One cache per key: nothing fetched with one tenant's key is shown under another's.
  const client = useMemo(() => newClient(signOut), [apiKey, signOut]);
  if (!apiKey) return <SignIn />;
  return (
    <QueryClientProvider client={client}>
      <HashRouter>
        <Shell />
      </HashRouter>
    </QueryClientProvider>
  );
}

function newClient(signOut: (reason: string) => void): QueryClient {
  // A key revoked while the page is open: back to sign-in, saying why.
  const onError = (error: unknown) => {
    if (error instanceof ApiError && error.status === 401) signOut(error.message);
  };
  return new QueryClient({
    queryCache: new QueryCache({ onError }),
    mutationCache: new MutationCache({ onError }),
    defaultOptions: {
      queries: {
        retry: (n, e) => !(e instanceof ApiError && e.status < 500) && n < 2,
        refetchOnWindowFocus: false,
      },
    },
  });
}

function Shell() {
  const { signOut } = useAuth();
  return (
    <div className="shell">
      <nav className="nav">
        <span className="brand">Axonize</span>
        <NavLink to="/traces">Traces</NavLink>
        <NavLink to="/gpus">GPUs</NavLink>
        <NavLink to="/analytics">Analytics</NavLink>
        <button className="link" onClick={() => signOut()}>
          Sign out
        </button>
      </nav>
      <main>
        <UnloadedNotice />
        <Suspense fallback={<Loading what="the page" />}>
          <Routes>
            <Route path="/" element={<Navigate to="/traces" replace />} />
            <Route path="/traces" element={<TracesPage />} />
            <Route path="/traces/:traceId" element={<TracePage />} />
            <Route path="/gpus" element={<GpusPage />} />
            <Route path="/gpus/:gpuUuid" element={<GpusPage />} />
            <Route path="/analytics" element={<AnalyticsPage />} />
            <Route
              path="*"
              element={
                <p>
                  No such page. <NavLink to="/traces">Traces</NavLink>
                </p>
              }
            />
          </Routes>
        </Suspense>
      </main>
    </div>
  );
}
