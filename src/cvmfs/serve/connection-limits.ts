/**
 * How many connections the server holds, in all and per client address: a
 * connection beyond either cap is answered 503 and closed at once (a CernVM-FS
 * client or squid then tries its next server), and the operator is told in
 * one log line when a cap is first reached (again at most once a minute).
 */
export interface ConnectionCaps { total: number; perClient: number; }

export const DEFAULT_CAPS: ConnectionCaps = { total: 4096, perClient: 512 };

const LOG_EVERY_MS = 60_000;

export class ConnectionLimits {
  private open = 0;
  private readonly byClient = new Map<string, number>();
  private lastLogged = { total: -Infinity, perClient: -Infinity };

  constructor(private readonly caps: ConnectionCaps, private readonly notice: (line: string) => void) {}

  /** Counts a new connection from `client` if both caps allow it; false (and perhaps a log line) if not. */
  admit(client: string): boolean {
    const mine = this.byClient.get(client) ?? 0;
    if (this.open >= this.caps.total) return this.refuse("total", `${this.caps.total} connections open (--max-connections); new ones get 503 until some close`);
    if (mine >= this.caps.perClient) return this.refuse("perClient", `${client} holds ${this.caps.perClient} connections (--max-per-client); its new ones get 503 until some close`);
    this.open++;
    this.byClient.set(client, mine + 1);
    return true;
  }

  /** Forgets a connection admit() counted. */
  release(client: string): void {
    this.open--;
    const mine = (this.byClient.get(client) ?? 1) - 1;
    if (mine <= 0) this.byClient.delete(client);
    else this.byClient.set(client, mine);
  }

  get count(): number { return this.open; }

  private refuse(which: "total" | "perClient", line: string): false {
    const now = Date.now();
    if (now - this.lastLogged[which] >= LOG_EVERY_MS) {
      this.lastLogged[which] = now;
      this.notice(`connection limit reached: ${line}`);
    }
    return false;
  }
}
