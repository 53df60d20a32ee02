import { render } from "preact";
import { useEffect } from "preact/hooks";
import { signal } from "@preact/signals";
import { session } from "./api";
import { connection } from "./stream";
import { AuthPage, ResetPage } from "./pages/Auth";
import { ProfilePage } from "./pages/Profile";
import { WalletPage } from "./pages/Wallet";
import { SpinPage } from "./pages/Spin";
import { LobbyPage, RoomPage } from "./pages/Roulette";
import { BoardsPage } from "./pages/Boards";
import { ProtectionPage } from "./pages/Protection";
import { reminder, startPlayerEvents } from "./live";
import { money } from "./api";
import "./styles.css";

// Routes live in the hash: the API owns the paths (/wallet, /leaderboard are JSON).
const route = signal(location.hash.slice(1) || "/");
addEventListener("hashchange", () => {
  route.value = location.hash.slice(1) || "/";
  document.getElementById("main")?.focus();
});

const NAV: [string, string][] = [
  ["/spin", "Spin and Win"],
  ["/roulette", "Roulette"],
  ["/wallet", "Wallet"],
  ["/boards", "Leaderboards"],
  ["/profile", "Profile"],
  ["/play-safe", "Play safe"],
];

function Page() {
  const path = route.value;
  const room = /^\/roulette\/(\d+)$/.exec(path);
  if (path.startsWith("/reset")) return <ResetPage token={new URLSearchParams(path.split("?")[1] ?? "").get("token") ?? ""} />;
  if (room) return <RoomPage roomId={Number(room[1])} />;
  if (path === "/roulette") return <LobbyPage />;
  if (path === "/boards") return <BoardsPage />;
  if (!session.value) return <AuthPage />;
  switch (path) {
    case "/wallet":
      return <WalletPage />;
    case "/profile":
      return <ProfilePage />;
    case "/play-safe":
      return <ProtectionPage />;
    default:
      return <SpinPage />;
  }
}

function App() {
  const signedIn = session.value !== null;
  useEffect(() => (signedIn ? startPlayerEvents() : undefined), [signedIn]);
  const current = route.value;
  return (
    <>
      <header class="top">
        <a class="brand" href="#/">Game Hub</a>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([path, label]) => (
              <li key={path}>
                <a href={`#${path}`} aria-current={current.startsWith(path) ? "page" : undefined}>{label}</a>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      {signedIn && connection.value === "offline" && (
        <p class="banner" role="status">Live updates are offline; reconnecting…</p>
      )}
      {reminder.value && (
        <div class="banner reminder" role="alert">
          Reality check: you have played for {reminder.value.session_minutes} minutes, with a net result of {money(reminder.value.net_result)}.{" "}
          <a href="#/play-safe">Set limits</a>{" "}
          <button type="button" class="link" onClick={() => (reminder.value = null)}>Dismiss</button>
        </div>
      )}
      <main id="main" tabIndex={-1}>
        <Page />
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
