import { bad, familyOf, hostAddress, routeDestination, type Interface } from "./model";

/** Lists in a network configuration (interfaces, routes, addresses) are short; a longer one is not one. */
export const MAX_ITEMS = 64;

/** A route of the source onto the interface; a default route (prefix 0) is its gateway unless it has one. */
export function addRoute(i: Interface, to: unknown, prefix: unknown, via: unknown, metric: unknown, where: string, field: string): void {
  // `default` takes the family of its gateway
  const viaFamily = typeof via === "string" ? familyOf(via.trim()) : undefined;
  const dest = to === "default" && viaFamily === 6 ? { to: "::", prefix: 0, family: 6 as const } : routeDestination(to, prefix, where, `${field} destination`);
  const gw = hostAddress(via, where, `${field} gateway`, dest.family).address;
  let m: number | undefined;
  if (metric !== undefined && metric !== null) {
    m = Number(metric);
    if (!Number.isInteger(m) || m < 0 || m > 0xffffffff) throw bad(where, `${field} metric`, metric, "expected a whole number");
  }
  if (dest.prefix === 0 && m === undefined) {
    if (dest.family === 4 && !i.gateway4) { i.gateway4 = gw; return; }
    if (dest.family === 6 && !i.gateway6) { i.gateway6 = gw; return; }
  }
  if (i.routes.length >= MAX_ITEMS) throw bad(where, field, to, `more than ${MAX_ITEMS} routes`);
  i.routes.push({ to: dest.to, prefix: dest.prefix, via: gw, family: dest.family, metric: m });
}
