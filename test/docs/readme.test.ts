// The README is the operator's first page: its commands table and every flag it names must be
// the CLI's, or a newcomer copies a command that fails. The CLI is the commander program itself
// (buildProgram), so a command or flag added, renamed or removed in src/commands/ without the
// README following fails here. The configuration table is checked against CONFIG_SPEC in
// test/config/declaration.test.ts.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../../src/program.js";

const README = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
const INSTALL_SH = readFileSync(new URL("../../deploy/install.sh", import.meta.url), "utf8");

/** The README stays a first page; the topics live in docs/. */
const MAX_README_LINES = 260;

/** Every command of the CLI by its path ("run", "config print", …); "" is the program itself. */
function commandsByPath(program: Command): Map<string, Command> {
  const out = new Map<string, Command>([["", program]]);
  const walk = (cmd: Command, path: string[]): void => {
    for (const sub of cmd.commands) {
      if (sub.name() === "help") continue; // commander's own, not ours to document
      const here = [...path, sub.name()];
      out.set(here.join(" "), sub);
      walk(sub, here);
    }
  };
  walk(program, []);
  return out;
}

/** The commands an operator runs: those without subcommands of their own. */
function leafPaths(commands: Map<string, Command>): string[] {
  return [...commands]
    .filter(
      ([path, cmd]) => path !== "" && cmd.commands.filter((c) => c.name() !== "help").length === 0,
    )
    .map(([path]) => path)
    .sort();
}

/** A command's flags as typed: long and short names, and the help flag every command has. */
function flagsOf(cmd: Command): Set<string> {
  const flags = new Set(["--help", "-h"]);
  for (const option of cmd.options) {
    if (option.long) flags.add(option.long);
    if (option.short) flags.add(option.short);
  }
  return flags;
}

const LONG_FLAG = /(?<![\w-])--[a-z][a-z0-9-]*/g;

/** The rows of the README's "## Commands" table: `| \`quantum-calc <path>\` | flags | what |`. */
function commandsTable(readme: string): { path: string; row: string }[] {
  const start = readme.indexOf("\n## Commands");
  if (start < 0) return [];
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^\| `quantum-calc ([a-z][a-z -]*?)` \|(.*)$/gm)].map((m) => ({
    path: m[1].trim(),
    row: m[2],
  }));
}

/**
 * The README's code: each line of a fenced block, and each inline code span (which may wrap
 * onto the next line of the paragraph).
 */
function codeSnippets(readme: string): string[] {
  const out: string[] = [];
  const prose = readme.replace(/^```[^\n]*\n([\s\S]*?)^```$/gm, (_, block: string) => {
    out.push(...block.split("\n"));
    return "";
  });
  for (const m of prose.matchAll(/`([^`]+)`/g)) out.push(m[1].replace(/\s+/g, " "));
  return out;
}

/**
 * Every place the README runs the CLI — a `quantum-calc …` or `npm run demo -- …` in its code —
 * as the command path and the flags given to it.
 */
function invocations(
  readme: string,
  commands: Map<string, Command>,
): { path: string; flags: string[]; text: string }[] {
  const out: { path: string; flags: string[]; text: string }[] = [];
  for (const code of codeSnippets(readme)) {
    // `run --once`, `compute --batch`: a command named without the program, then a flag.
    const bare = /^([a-z][a-z-]*) --/.exec(code);
    const snippet = bare !== null && commands.has(bare[1]) ? `quantum-calc ${code}` : code;
    const m = /(?:(?<![\w-])quantum-calc|npm run demo --)((?: [^#|]*)?)/.exec(snippet);
    if (m === null) continue;
    const words = m[1].trim().split(/\s+/).filter(Boolean);
    let path = m[0].startsWith("npm run demo") ? "demo" : "";
    // The longest run of leading words that names a command ("config print", "replay stops").
    for (const word of words) {
      const next = path === "" ? word : `${path} ${word}`;
      if (!commands.has(next)) break;
      path = next;
    }
    if (path === "" && words.length > 0 && !words[0].startsWith("-")) continue; // `<command>`
    out.push({ path, flags: m[1].match(LONG_FLAG) ?? [], text: m[0].trim() });
  }
  return out;
}

/** Every disagreement between a README and the CLI, one message each; [] when they agree. */
function readmeProblems(readme: string, program: Command, installSh: string): string[] {
  const problems: string[] = [];
  const commands = commandsByPath(program);
  const leaves = leafPaths(commands);
  const table = commandsTable(readme);
  const tablePaths = table.map((r) => r.path);

  for (const path of leaves) {
    const count = tablePaths.filter((p) => p === path).length;
    if (count !== 1)
      problems.push(`commands table: \`quantum-calc ${path}\` listed ${count} times`);
  }
  for (const { path, row } of table) {
    const cmd = commands.get(path);
    if (cmd === undefined || !leaves.includes(path)) {
      problems.push(`commands table: \`quantum-calc ${path}\` is not a command of the CLI`);
      continue;
    }
    const flags = flagsOf(cmd);
    for (const flag of row.match(LONG_FLAG) ?? []) {
      if (!flags.has(flag)) problems.push(`commands table: ${path} has no flag ${flag}`);
    }
  }

  for (const { path, flags, text } of invocations(readme, commands)) {
    const known = flagsOf(commands.get(path)!);
    for (const flag of flags) {
      if (!known.has(flag))
        problems.push(`\`${text}\`: ${path || "quantum-calc"} has no flag ${flag}`);
    }
  }

  // Anywhere else (prose, the exit codes table): a flag must be one of some command's, or, on a
  // line about the installer, one of install.sh's.
  const anyFlag = new Set([...commands.values()].flatMap((cmd) => [...flagsOf(cmd)]));
  for (const line of readme.split("\n")) {
    for (const flag of line.match(LONG_FLAG) ?? []) {
      if (anyFlag.has(flag)) continue;
      if (line.includes("install.sh") && installSh.includes(flag)) continue;
      problems.push(`the README names ${flag}, which no command has: ${line.trim()}`);
    }
  }
  return problems;
}

describe("the README and the CLI", () => {
  const program = buildProgram();

  it(`the README is a first page: at most ${MAX_README_LINES} lines`, () => {
    expect(README.split("\n").length).toBeLessThanOrEqual(MAX_README_LINES);
  });

  it("the commands table lists every command of the CLI once and nothing else", () => {
    const paths = commandsTable(README).map((r) => r.path);
    expect([...paths].sort()).toEqual(leafPaths(commandsByPath(program)));
  });

  it("every flag the README names exists on the command it is given to", () => {
    expect(readmeProblems(README, program, INSTALL_SH)).toEqual([]);
  });

  it("the README shows every viz machine and format, and the two set-up commands", () => {
    const viz = commandsTable(README).find((r) => r.path === "viz")!.row;
    for (const name of [
      "publisher",
      "supervisor",
      "klinesFollower",
      "mermaid",
      "dot",
      "json",
      "svg",
    ]) {
      expect(viz).toContain(`\`${name}\``);
    }
    const setup = /## Quick start\s+```sh\n([\s\S]*?)```/.exec(README)?.[1].trim().split("\n");
    expect(setup?.map((l) => l.split("#")[0].trim())).toEqual([
      "npm ci && npm run demo",
      "npm ci && npm test",
    ]);
  });

  it("finds the README's invocations of the CLI (so the flag check is not vacuous)", () => {
    const found = invocations(README, commandsByPath(program)).map(
      ({ path, flags }) => `${path}: ${flags.join(" ")}`,
    );
    expect(found).toEqual(
      expect.arrayContaining(["config print: --origins", "demo: --candle-ms", ": --help"]),
    );
  });

  describe("the check itself fails on a README that does not match", () => {
    it("a flag the command does not have, in the table, in an invocation or in prose", () => {
      const inTable = README.replace("| `--origins` |", "| `--origin` |");
      expect(inTable).not.toBe(README);
      expect(readmeProblems(inTable, program, INSTALL_SH)).toEqual([
        "commands table: config print has no flag --origin",
        expect.stringContaining("the README names --origin, which no command has"),
      ]);
      const wrongCommand = `${README}\n\`quantum-calc status --once\`\n`;
      expect(readmeProblems(wrongCommand, program, INSTALL_SH)).toEqual([
        "`quantum-calc status --once`: status has no flag --once",
      ]);
      const inProse = `${README}\nSet --no-such-flag to go faster.\n`;
      expect(readmeProblems(inProse, program, INSTALL_SH)).toEqual([
        "the README names --no-such-flag, which no command has: Set --no-such-flag to go faster.",
      ]);
    });

    it("a command missing from the table, or one the CLI does not have", () => {
      const rows = README.split("\n");
      const withoutStops = rows
        .filter((l) => !l.startsWith("| `quantum-calc replay stops`"))
        .join("\n");
      expect(readmeProblems(withoutStops, program, INSTALL_SH)).toEqual([
        "commands table: `quantum-calc replay stops` listed 0 times",
      ]);
      const extra = README.replace(
        "| `quantum-calc viz` |",
        "| `quantum-calc frobnicate` | | does nothing |\n| `quantum-calc viz` |",
      );
      expect(readmeProblems(extra, program, INSTALL_SH)).toEqual([
        "commands table: `quantum-calc frobnicate` is not a command of the CLI",
      ]);
    });
  });
});
