import { CvmError } from "../cli/errors";
import { escapeName } from "../cli/output";
import { asText, decodeBase64, gunzip, isGzip } from "./decode";
import { parseIni, type IniDoc } from "./ini";
import type { Problems } from "./problems";

/**
 * user_data bytes → what the agent acts on: gzip (by its magic bytes), MIME
 * multipart (the parts amiconfig and cloud-init share), `#!` scripts before
 * the INI (`#!/bin/sh.before` before the plugins, plain or `.after` after,
 * each ending at a line that starts with `exit`), then the INI.
 *
 * The bytes are read as latin1 text (one character per byte) while the
 * structure is found, so a script keeps every byte it was sent; only the INI
 * is read as UTF-8.
 */

/** `text` is the script's bytes exactly as sent (user_data is bytes: a script need not be UTF-8). */
export interface Script { when: "before" | "after"; text: Buffer; where: string; line: number; }
export interface UserData { ini: IniDoc; scripts: Script[]; notes: string[]; format: string[]; }

const MAX_PARTS = 64;
const MAX_DEPTH = 3;

export function decodeUserData(bytes: Uint8Array, problems: Problems, where = "user_data"): UserData {
  const ud: UserData = { ini: new Map(), scripts: [], notes: [], format: [] };
  let data = bytes;
  if (isGzip(data)) { data = gunzip(data, where); ud.format.push("gzip"); }
  const text = asText(data, where);
  if (isMime(text)) {
    ud.format.push("mime");
    readMultipart(text, ud, problems, where, 0, { parts: 0 });
  } else {
    ud.format.push("plain");
    readBody(text, ud, problems, where);
  }
  return ud;
}

const isMime = (text: string) => /^(content-type|mime-version)\s*:/i.test(text.trimStart().slice(0, 40));

/** A plain amiconfig body: leading scripts, then INI. Other formats (cloud-config, include) are noted, not run. */
const CLOUD_INIT_MARKER = /^#cloud-config|^#cloud-boothook|^#part-handler|^#upstart-job|^## template:/i;
const firstLine = (text: string) => text.trimStart().split("\n", 1)[0].trim();

function readBody(text: string, ud: UserData, problems: Problems, where: string): void {
  const first = firstLine(text);
  if (CLOUD_INIT_MARKER.test(first)) {
    ud.notes.push(`${where}: ${first.split(/\s/)[0]} is cloud-init's; left to cloud-init`);
    return;
  }
  if (/^#include(-once)?\b/i.test(first)) {
    problems.warn(where, 1, `${first.split(/\s/)[0]}: fetching user_data from URLs is not supported; ignored`);
    return;
  }
  const lines = text.split("\n");
  let i = 0;
  for (;;) {
    while (i < lines.length && lines[i].trim() === "") i++;
    if (i >= lines.length || !lines[i].startsWith("#!")) break;
    const start = i;
    while (i < lines.length && !/^exit\b/.test(lines[i])) i++;
    const end = Math.min(i, lines.length - 1);
    i = end + 1;
    addScript(lines.slice(start, end + 1), ud, problems, where, start + 1);
  }
  if (i < lines.length) parseIni(Buffer.from(lines.slice(i).join("\n"), "latin1").toString("utf8"), ud.ini, problems, where, i + 1);
}

function addScript(lines: string[], ud: UserData, problems: Problems, where: string, line: number, when?: "before" | "after"): void {
  let shebang = lines[0].replace(/\r$/, "").trimEnd();
  const suffix = /\.(before|after)$/.exec(shebang);
  if (suffix) shebang = shebang.slice(0, -suffix[0].length);
  if (!/^#!\s*\/[^\s\0]+/.test(shebang)) {
    problems.error(where, line, `script: '${escapeName(shebang.slice(0, 60))}': the interpreter must be an absolute path`);
    return;
  }
  const text = Buffer.from([shebang, ...lines.slice(1)].join("\n").replace(/\n?$/, "\n"), "latin1");
  ud.scripts.push({ when: (suffix?.[1] as "before" | "after" | undefined) ?? when ?? "after", text, where, line });
}

interface Counter { parts: number; }

function readMultipart(text: string, ud: UserData, problems: Problems, where: string, depth: number, count: Counter): void {
  const { headers, body } = splitHeaders(text);
  readPart(headers, decodeTransfer(headers, body, where), ud, problems, where, depth, count);
}

function splitHeaders(text: string): { headers: Map<string, string>; body: string } {
  const lines = text.split("\n");
  const headers = new Map<string, string>();
  let i = 0, last = "";
  for (; i < lines.length; i++) {
    const l = lines[i].replace(/\r$/, "");
    if (l === "") { i++; break; }
    if (/^[ \t]/.test(l) && last) { headers.set(last, headers.get(last) + " " + l.trim()); continue; }
    const colon = l.indexOf(":");
    if (colon < 1) break; // not a header: the body starts here
    last = l.slice(0, colon).trim().toLowerCase();
    headers.set(last, l.slice(colon + 1).trim());
  }
  return { headers, body: lines.slice(i).join("\n") };
}

function param(header: string, name: string): string | undefined {
  const m = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, "i").exec(header);
  return m ? (m[1] ?? m[2]) : undefined;
}

function readPart(headers: Map<string, string>, content: Buffer, ud: UserData, problems: Problems, where: string, depth: number, count: Counter): void {
  const type = (headers.get("content-type") ?? "text/plain").split(";")[0].trim().toLowerCase();
  if (type.startsWith("multipart/")) {
    if (depth >= MAX_DEPTH) throw new CvmError(`${where}: MIME parts nested more than ${MAX_DEPTH} deep`);
    const boundary = param(headers.get("content-type") ?? "", "boundary");
    if (!boundary) throw new CvmError(`${where}: multipart user_data without a boundary`);
    for (const part of splitParts(content.toString("latin1"), boundary, where)) {
      if (++count.parts > MAX_PARTS) throw new CvmError(`${where}: more than ${MAX_PARTS} MIME parts`);
      const p = splitHeaders(part);
      const partWhere = `${where.replace(/ part .*$/, "")} part ${count.parts}`;
      readPart(p.headers, decodeTransfer(p.headers, p.body, partWhere), ud, problems, partWhere, depth + 1, count);
    }
    return;
  }
  let bytes: Uint8Array = content;
  if (isGzip(bytes)) bytes = gunzip(bytes, where);
  const text = asText(bytes, where);
  const label = `${where} (${type})`;
  const filename = param(headers.get("content-disposition") ?? "", "filename") ?? "";
  switch (type) {
    case "text/amiconfig-user-data":
    case "text/amiconfig":
      return readBody(text, ud, problems, label);
    case "text/x-shellscript":
      return shellScriptPart(text, filename, ud, problems, label);
    case "application/gzip": case "application/x-gzip":
      // cloud-init inflates such a part and reads what is inside by its first line
      if (firstLine(text).startsWith("#!")) return shellScriptPart(text, filename, ud, problems, label);
      return readBody(text, ud, problems, label);
    case "text/ucernvm":
      ud.notes.push(`${label}: for the µCernVM boot loader; ignored`);
      return;
    case "text/cloud-config": case "text/cloud-boothook": case "text/x-include-url": case "text/x-include-once-url":
    case "text/part-handler": case "text/cloud-config-archive": case "text/jinja2": case "text/upstart-job":
      ud.notes.push(`${label}: cloud-init's; left to cloud-init`);
      return;
    case "text/plain": case "text/x-not-multipart":
      return readBody(text, ud, problems, label);
    default:
      problems.warn(label, undefined, `MIME part of type ${escapeName(type)}: not understood; ignored`);
  }
}

/** A whole part is one script; a part that is cloud-init's (mislabelled) is left to it with a warning. */
function shellScriptPart(text: string, filename: string, ud: UserData, problems: Problems, label: string): void {
  const lines = text.replace(/^\s*\n/, "").split("\n");
  const first = firstLine(text);
  if (CLOUD_INIT_MARKER.test(first)) {
    problems.warn(label, 1, `holds ${escapeName(first.split(/\s/)[0])}, not a script; left to cloud-init`);
    ud.notes.push(`${label}: ${first.split(/\s/)[0]} is cloud-init's; left to cloud-init`);
    return;
  }
  if (!lines[0].startsWith("#!")) return problems.error(label, 1, "a shell script part must start with #!");
  const when = /\.before$/.test(filename) ? "before" : undefined;
  return addScript(lines, ud, problems, label, 1, when);
}

function splitParts(body: string, boundary: string, where: string): string[] {
  const lines = body.split("\n");
  const parts: string[] = [];
  let current: string[] | undefined;
  let closed = false;
  for (const raw of lines) {
    const l = raw.replace(/\r$/, "").trimEnd();
    if (l === `--${boundary}--`) { if (current) parts.push(current.join("\n")); current = undefined; closed = true; break; }
    if (l === `--${boundary}`) { if (current) parts.push(current.join("\n")); current = []; continue; }
    current?.push(raw.replace(/\r$/, ""));
  }
  if (!closed) {
    if (current) parts.push(current.join("\n"));
    if (!parts.length) throw new CvmError(`${where}: multipart user_data with no part (boundary '${escapeName(boundary)}' not found)`);
  }
  // the line break before a boundary belongs to the boundary
  return parts.map((p) => p.replace(/\n$/, ""));
}

function decodeTransfer(headers: Map<string, string>, body: string, where: string): Buffer {
  const encoding = (headers.get("content-transfer-encoding") ?? "7bit").toLowerCase();
  if (encoding === "base64") return decodeBase64(body, `${where}: base64 content`);
  if (encoding === "quoted-printable")
    return Buffer.from(body.replace(/=\r?\n/g, "").replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), "latin1");
  if (["7bit", "8bit", "binary"].includes(encoding)) return Buffer.from(body, "latin1");
  throw new CvmError(`${where}: Content-Transfer-Encoding ${escapeName(encoding)} is not supported`);
}
