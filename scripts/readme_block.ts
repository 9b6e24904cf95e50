// Replaces a generated block of README.md (between `<!-- name:begin -->` and `<!-- name:end -->`), so the
// benchmark and the hardening suites can publish the figures of their latest full run.

/** Returns `readme` with the block named `name` replaced by `markdown`; throws if its markers are missing. */
export function replaceReadmeBlock(readme: string, name: string, markdown: string): string {
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const start = readme.indexOf(begin);
  const stop = readme.indexOf(end);
  if (start < 0 || stop < start) {
    throw new Error(`Cannot update README.md: the markers ${begin} and ${end} are missing`);
  }
  return readme.slice(0, start + begin.length) + "\n" + markdown.trim() + "\n" + readme.slice(stop);
}

/** Rewrites the block named `name` of the README at `path` in place, formatted as `deno fmt` would. */
export async function publishReadmeBlock(path: string, name: string, markdown: string): Promise<void> {
  await Deno.writeTextFile(path, replaceReadmeBlock(await Deno.readTextFile(path), name, markdown));
  const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", path], stderr: "piped" })
    .output();
  if (!fmt.success) throw new Error(`deno fmt ${path} failed: ${new TextDecoder().decode(fmt.stderr)}`);
}
