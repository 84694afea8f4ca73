// Checks of deploy/install.sh that change nothing on the machine: syntax (bash -n, shellcheck
// when installed), usage errors, and --dry-run, which must print every step a real install
// takes and leave the disk as it was. A real install (useradd, /etc/systemd/system,
// systemctl) is not run here: it would change the shared test machine.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const checkout = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const script = join(checkout, "deploy/install.sh");
const installedUnit = "/etc/systemd/system/quantum-calc.service";

// The unit's ProtectHome=yes hides /home and /root, so install.sh refuses a node there (nvm).
const nodeUnderHome = /^\/(home|root)(\/|$)/.test(process.execPath);
if (nodeUnderHome)
  console.warn(
    `install.test: skipping the runs of install.sh: node is at ${process.execPath}, which install.sh refuses (ProtectHome)`,
  );

const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}` };
/** The node install.sh finds (its default for --node). */
const nodeOnPath = spawnSync("bash", ["-c", "command -v node"], {
  env,
  encoding: "utf8",
}).stdout.trim();

/**
 * How to run the script as a non-root user, for "--dry-run needs no root": when the tests run
 * as root (CI), setpriv drops to nobody, provided nobody can read the checkout and run node.
 * Otherwise the tests run as they are (already non-root, or no way to drop).
 */
function unprivilegedPrefix(): string[] {
  if (process.getuid?.() !== 0) return [];
  const drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
  const probe = spawnSync(
    drop[0],
    [...drop.slice(1), "bash", "-c", `test -r "$0" && node --version`, script],
    { env },
  );
  return probe.status === 0 ? drop : [];
}
const asUser = unprivilegedPrefix();
const runsUnprivileged = asUser.length > 0 || process.getuid?.() !== 0;

function install(args: string[], prefix: string[] = []): SpawnSyncReturns<string> {
  const argv = [...prefix, "bash", script, ...args];
  return spawnSync(argv[0], argv.slice(1), { encoding: "utf8", env, cwd: tmpdir() });
}

const tmpDirs: string[] = [];
/** A fresh world-readable temp dir (so nobody can look inside), removed after the tests. */
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), "qc-install-"));
  chmodSync(dir, 0o755);
  tmpDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

/** What on disk could change: mtime and existence of the paths a real install touches. */
function snapshot(paths: string[]): Record<string, string> {
  return Object.fromEntries(
    paths.map((p) => [p, existsSync(p) ? `${statSync(p).mtimeMs}` : "absent"] as const),
  );
}

describe("install.sh syntax", () => {
  it("passes bash -n", () => {
    const r = spawnSync("bash", ["-n", script], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  const shellcheck = spawnSync("shellcheck", ["--version"]);
  const noShellcheck = shellcheck.error !== undefined || shellcheck.status !== 0;
  if (noShellcheck) console.warn("install.test: skipping shellcheck: it is not installed");
  it.skipIf(noShellcheck)("passes shellcheck", () => {
    const r = spawnSync("shellcheck", ["--shell=bash", "--severity=style", script], {
      encoding: "utf8",
    });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});

describe("install.sh usage", () => {
  it("--help prints the options and exits 0", () => {
    const r = install(["--help"]);
    expect(r.status).toBe(0);
    for (const opt of ["--dry-run", "--prefix", "--config-dir", "--no-build", "--help"]) {
      expect(r.stdout).toContain(opt);
    }
  });

  it("an unknown option is a usage error (exit 2)", () => {
    const r = install(["--frobnicate"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown option '--frobnicate'");
  });

  it("refuses a prefix that ProtectHome would hide from the service", () => {
    const r = install(["--dry-run", "--prefix", "/home/someone/quantum-calc"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("ProtectHome");
  });

  it.skipIf(nodeUnderHome)(
    "--print-unit rewrites the default paths for --prefix/--config-dir",
    () => {
      const r = install([
        "--print-unit",
        "--prefix",
        "/srv/qc",
        "--config-dir",
        "/etc/qc",
        "--node",
        "/usr/local/bin/node",
      ]);
      expect(r.status, r.stderr).toBe(0);
      const expected = readFileSync(join(checkout, "deploy/systemd/quantum-calc.service"), "utf8")
        .replaceAll("/opt/quantum-calc", "/srv/qc")
        .replaceAll("/etc/quantum/", "/etc/qc/")
        .replaceAll("/usr/bin/node", "/usr/local/bin/node");
      expect(r.stdout).toBe(expected);
      expect(r.stdout).toContain(
        "ExecStart=/usr/local/bin/node /srv/qc/dist/src/cli.js run --config /etc/qc/quantum-calc.json",
      );
      expect(r.stdout).toContain("LoadCredential=redis-password:/etc/qc/redis-password");
    },
  );
});

describe.skipIf(nodeUnderHome)("install.sh --dry-run", () => {
  function dirs() {
    const root = scratch();
    return {
      prefix: join(root, "opt/quantum-calc"),
      configDir: join(root, "etc/quantum"),
      binDir: join(root, "bin"),
    };
  }
  const args = (d: ReturnType<typeof dirs>) => [
    "--prefix",
    d.prefix,
    "--config-dir",
    d.configDir,
    "--bin-dir",
    d.binDir,
  ];

  it(`--no-build prints every step, changes nothing, exits 0${runsUnprivileged ? " (as a non-root user)" : ""}`, () => {
    const d = dirs();
    const watched = [
      d.prefix,
      d.configDir,
      d.binDir,
      installedUnit,
      join(checkout, "dist"),
      join(checkout, "node_modules"),
    ];
    const before = snapshot(watched);
    const r = install(["--dry-run", "--no-build", ...args(d)], asUser);
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout;
    // No build.
    expect(out).not.toMatch(/npm run build/);
    // Copy.
    expect(out).toContain(
      `[dry-run] install -m 0644 ${checkout}/package.json ${checkout}/package-lock.json ${d.prefix}/`,
    );
    expect(out).toContain(`[dry-run] cp -R ${checkout}/dist ${d.prefix}/dist.new`);
    expect(out).toContain(`[dry-run] mv -T ${d.prefix}/dist.new ${d.prefix}/dist`);
    expect(out).toContain(
      `[dry-run] (cd ${d.prefix} && npm ci --omit=dev --ignore-scripts --no-audit --no-fund)`,
    );
    // User: created, or found.
    expect(out).toMatch(
      /\[dry-run\] useradd --system .* quantum-calc\n|==> system user quantum-calc exists/,
    );
    // Config: the example goes in (the config dir is new), and an empty password file.
    expect(out).toContain(`[dry-run] install -d -m 0750 -o root -g quantum-calc ${d.configDir}`);
    expect(out).toContain(
      `[dry-run] install -m 0640 -o root -g quantum-calc ${checkout}/config/quantum-calc.example.json ${d.configDir}/quantum-calc.json`,
    );
    expect(out).toContain(
      `[dry-run] install -m 0600 -o root -g root /dev/null ${d.configDir}/redis-password`,
    );
    // Unit (new, or the same one already installed), then daemon-reload, then the wrapper.
    expect(out).toMatch(
      new RegExp(
        `\\[dry-run\\] install -m 0644 <generated the unit> ${installedUnit}\\n|==> the unit ${installedUnit} is up to date`,
      ),
    );
    expect(out).toMatch(
      new RegExp(
        `it runs: ${nodeOnPath} ${d.prefix}/dist/src/cli.js run --config ${d.configDir}/quantum-calc.json\\n|is up to date`,
      ),
    );
    expect(out).toContain("[dry-run] systemctl daemon-reload");
    expect(out).toMatch(
      new RegExp(
        `\\[dry-run\\] install -m 0755 <generated the CLI wrapper> ${d.binDir}/quantum-calc|wrapper ${d.binDir}/quantum-calc is up to date`,
      ),
    );
    // In the operator's terms: no temporary file, no internal function name.
    expect(out).not.toMatch(/\/tmp\/tmp\.|render_unit|render_wrapper|its content/);
    expect(out).toContain("Dry run done: nothing was changed.");
    // Every action line is a dry-run line: nothing was executed for real.
    expect(out).not.toMatch(/^\+ /m);
    expect(snapshot(watched)).toEqual(before);
  });

  it("with the build prints npm ci and npm run build in the checkout, and runs neither", () => {
    const d = dirs();
    const watched = [
      d.prefix,
      d.configDir,
      d.binDir,
      installedUnit,
      join(checkout, "dist"),
      join(checkout, "node_modules"),
    ];
    const before = snapshot(watched);
    const r = install(["--dry-run", ...args(d)], asUser);
    expect(r.status, r.stderr).toBe(0);
    const buildAt = r.stdout.indexOf(`[dry-run] (cd ${checkout} && npm ci --no-audit --no-fund)`);
    const compileAt = r.stdout.indexOf(`[dry-run] (cd ${checkout} && npm run build)`);
    const copyAt = r.stdout.indexOf(`[dry-run] cp -R ${checkout}/dist`);
    expect(buildAt).toBeGreaterThanOrEqual(0);
    expect(compileAt).toBeGreaterThan(buildAt);
    expect(copyAt).toBeGreaterThan(compileAt);
    expect(r.stdout).toContain("[dry-run] systemctl daemon-reload");
    expect(snapshot(watched)).toEqual(before);
  });

  it("keeps an existing config and password file: never overwritten", () => {
    const d = dirs();
    mkdirSync(d.configDir, { recursive: true, mode: 0o755 });
    const config = join(d.configDir, "quantum-calc.json");
    writeFileSync(config, '{"symbols":["XRPUSDT"]}\n', { mode: 0o644 });
    writeFileSync(join(d.configDir, "redis-password"), "hunter2\n", { mode: 0o644 });
    const r = install(["--dry-run", "--no-build", ...args(d)], asUser);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`==> keeping the existing ${config} (never overwritten)`);
    expect(r.stdout).toContain(
      `==> config directory ${d.configDir} exists (owner and mode left as they are)`,
    );
    expect(r.stdout).toContain(`==> keeping the existing ${d.configDir}/redis-password`);
    expect(r.stdout).not.toContain(`quantum-calc.example.json ${config}`);
    expect(r.stdout).not.toContain("hunter2");
    expect(readFileSync(config, "utf8")).toBe('{"symbols":["XRPUSDT"]}\n');
  });

  it.skipIf(!runsUnprivileged)(
    "without --dry-run, a non-root user is refused before any action",
    () => {
      const d = dirs();
      const r = install(["--no-build", ...args(d)], asUser);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("must be run as root");
      expect(r.stdout).toBe("");
      expect(existsSync(d.prefix)).toBe(false);
      expect(existsSync(d.configDir)).toBe(false);
    },
  );
});
