// Email address parsing shared by the adapters and the config checks.

/** `"Name <addr@domain>"` or a bare `addr@domain`, split into its parts; null when it is neither. */
export function parseMailbox(value: string): { email: string; name?: string } | null {
  const named = /^\s*"?([^"<>]*?)"?\s*<([^\s@<>]+@[^\s@<>]+)>\s*$/.exec(value);
  if (named) return named[1] ? { email: named[2], name: named[1] } : { email: named[2] };
  const bare = /^\s*([^\s@<>]+@[^\s@<>]+)\s*$/.exec(value);
  return bare ? { email: bare[1] } : null;
}

/** The lower-case domain of a mailbox, or null when it is not an address. */
export function mailboxDomain(value: string): string | null {
  const box = parseMailbox(value);
  return box ? box.email.slice(box.email.lastIndexOf("@") + 1).toLowerCase() : null;
}
