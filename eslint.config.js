// Lint: typescript-eslint's type-aware recommended rules over every TypeScript file the
// type-checks see (tsconfig.json for Node, tsconfig.client.json for the visualizer's browser
// code). Formatting is Prettier's job (.prettierrc.json), not the linter's.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "test-results/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // The service validates untrusted text by refusing control characters: regexes that name
      // \x00–\x1f are the point (src/contracts/safeText.ts, src/store/keyGuard.ts, …).
      "no-control-regex": "off",
      // `async` with no `await` is how an implementation of a Promise-returning interface (the
      // Store, the injected steps, test doubles) turns a throw into a rejection.
      "@typescript-eslint/require-await": "off",
      // Rejecting with what was caught (an `unknown`) passes the original error on unchanged.
      "@typescript-eslint/prefer-promise-reject-errors": ["error", { allowThrowingUnknown: true }],
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" },
      ],
    },
  },
  {
    // Tests read JSON output and reach into doubles untyped on purpose: the assertion that
    // follows is the type check, and `expect(store.method)` passes a method unbound by design.
    files: ["test/**/*.ts", "bench/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/unbound-method": "off",
    },
  },
  {
    files: ["src/viz/client/**/*.ts"],
    languageOptions: {
      parserOptions: {
        projectService: false,
        project: "./tsconfig.client.json",
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
  },
);
