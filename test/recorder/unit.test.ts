// The shipped unit records (its StateDirectory, QUANTUM_CALC_RECORD_DIR): its comments must not
// tell an operator hardening or auditing it that the service writes nothing to disk.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const unitPath = fileURLToPath(
  new URL("../../deploy/systemd/quantum-calc.service", import.meta.url),
);

it("deploy/systemd/quantum-calc.service: the recorder's StateDirectory, and no comment denying it", async () => {
  const unit = await readFile(unitPath, "utf8");
  expect(unit).toMatch(/^StateDirectory=quantum-calc$/m);
  expect(unit).toMatch(
    /^Environment=QUANTUM_CALC_RECORD_DIR=\/var\/lib\/quantum-calc\/recording$/m,
  );
  // Comments joined across lines: a claim broken over two lines is still found.
  const comments = unit
    .split("\n")
    .filter((l) => l.startsWith("#"))
    .map((l) => l.replace(/^#\s?/, ""))
    .join(" ");
  for (const claim of [/no state on disk/i, /nothing to disk/i, /writes no files/i])
    expect(comments).not.toMatch(claim);
  expect(comments).toContain("writes only its flight recording");
});
