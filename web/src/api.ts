// The only way the client talks to Game Hub: openapi-fetch over the types generated from
// docs/openapi.json (src/schema.d.ts, made by `npm run generate`), so a change to the API
// that the pages do not follow fails the build.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";
import { signal } from "@preact/signals";

export type Schemas = components["schemas"];

const STORAGE_KEY = "gamehub.session";

export interface Session {
  userId: number;
  username: string;
  accessToken: string;
  refreshToken: string;
}

function loadSession(): Session | null {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    return saved ? (JSON.parse(saved) as Session) : null;
  } catch {
    return null;
  }
}

/** The signed-in player, or null; pages re-render when it changes. */
export const session = signal<Session | null>(loadSession());

export function saveSession(next: Session | null): void {
  session.value = next;
  if (next) localStorage.setItem(STORAGE_KEY, JSON.stringify(next));
  else localStorage.removeItem(STORAGE_KEY);
}

export const api = createClient<paths>({ baseUrl: location.origin });

let refreshing: Promise<boolean> | null = null;

/** Trade the refresh token for a new pair once, however many requests saw the 401. */
function refreshTokens(): Promise<boolean> {
  const current = session.value;
  if (!current) return Promise.resolve(false);
  refreshing ??= (async () => {
    try {
      // Through the generated client too; its 401 (InvalidRefreshToken) is not retried.
      const answer = await api.POST("/token/refresh", { body: { refresh_token: current.refreshToken } });
      if (!answer.data) {
        saveSession(null);
        return false;
      }
      saveSession({ ...current, accessToken: answer.data.access_token, refreshToken: answer.data.refresh_token });
      return true;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

const RETRIED = "X-Gamehub-Retried";

const auth: Middleware = {
  onRequest({ request }) {
    const token = session.value?.accessToken;
    if (token && !request.headers.has("Authorization")) {
      request.headers.set("Authorization", `Bearer ${token}`);
    }
    return request;
  },
  async onResponse({ request, response }) {
    if (response.status !== 401 || request.headers.has(RETRIED) || !session.value) return response;
    const body = (await response.clone().json().catch(() => null)) as { error?: string } | null;
    if (body?.error !== "AccessTokenExpired") return response;
    if (!(await refreshTokens())) return response;
    const retry = new Request(request, { headers: new Headers(request.headers) });
    retry.headers.set("Authorization", `Bearer ${session.value?.accessToken ?? ""}`);
    retry.headers.set(RETRIED, "1");
    return fetch(retry);
  },
};
api.use(auth);

export function authHeader(): Record<string, string> {
  const token = session.value?.accessToken;
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** A key for a request that moves money, so that a retry cannot move it twice. */
export function idempotent(): { "Idempotency-Key": string } {
  return { "Idempotency-Key": crypto.randomUUID() };
}

export interface ErrorBody {
  error: string;
  detail?: unknown;
  [field: string]: unknown;
}

/** An error answer from the API, with a message a player can read. */
export class ApiError extends Error {
  readonly code: string;
  readonly body: ErrorBody;
  readonly status: number;

  constructor(status: number, body: ErrorBody) {
    super(readable(body));
    this.code = body.error;
    this.body = body;
    this.status = status;
  }
}

// Wording for the errors a player meets most; every other code shows the API's own
// plain-words detail (docs/errors.md), which is written for people too.
const MESSAGES: Record<string, string> = {
  InsufficientFunds: "Your balance is too low for that.",
  InvalidCredentials: "That username and password do not match.",
  AccountLocked: "Too many failed attempts: this account is locked for a while.",
  AddressLocked: "Too many failed attempts from this network; try again later.",
  UsernameTaken: "That username is taken.",
  PasswordTooCommon: "That password is too common; choose another.",
  NotYourTurn: "It is not your turn yet.",
  StakeOutOfRange: "That stake is outside this game's limits.",
  EmailNotVerified: "Verify your email address first (see your profile).",
  MpesaUnreachable: "M-Pesa cannot be reached right now; nothing was charged. Try again.",
  DatabaseUnavailable: "The service is briefly unavailable; try again in a moment.",
  AuthenticationRequired: "Please log in.",
  AccessTokenRevoked: "You were logged out. Please log in again.",
  InvalidPhone: "That is not a Kenyan mobile number (07XXXXXXXX or 2547XXXXXXXX).",
  WholeShillingsOnly: "M-Pesa takes whole shillings only.",
};

function readable(body: ErrorBody): string {
  const known = MESSAGES[body.error];
  if (known) return known;
  if (typeof body.detail === "string") return body.detail;
  return `Something went wrong (${body.error}).`;
}

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The answer's data, or an ApiError for its error body. */
export async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await call;
  } catch {
    throw new ApiError(0, { error: "Offline", detail: "The server cannot be reached; check your connection." });
  }
  if (answer.error !== undefined || answer.data === undefined) {
    const body = answer.error as ErrorBody | undefined;
    throw new ApiError(answer.response.status, body?.error ? body : { error: "HttpError", detail: `HTTP ${answer.response.status}` });
  }
  return answer.data;
}

/** The next page's cursor, which list routes send in X-Next-Cursor. */
export function nextCursor(response: Response): string | null {
  return response.headers.get("X-Next-Cursor");
}

export function money(amount: number, currency = "KES"): string {
  return `${currency} ${amount.toLocaleString("en-KE", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}
