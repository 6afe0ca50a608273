// One linter and formatter for the whole tree: ESLint with typescript-eslint and @stylistic.
// `npm run lint` checks, `npm run format` fixes.
import js from "@eslint/js";
import stylistic from "@stylistic/eslint-plugin";
import { createNodeResolver, importX } from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", ".ferry/", "schemas/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  stylistic.configs.customize({ indent: 2, quotes: "double", semi: true, arrowParens: true, braceStyle: "1tbs" }),
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly" } },
    rules: {
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" }],
      "@stylistic/max-len": ["error", { code: 140, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreComments: false }],
      "@stylistic/operator-linebreak": "off",
      "@stylistic/multiline-ternary": "off",
      "@stylistic/indent-binary-ops": "off",
      "@stylistic/quote-props": ["error", "as-needed"],
      "@stylistic/member-delimiter-style": "error",
      "no-control-regex": "off",
    },
  },
  // Functions stay short enough to read at once; a longer one is steps waiting to be named (tests aside).
  {
    files: ["src/**/*.ts"],
    ignores: ["src/**/*.test.ts"],
    rules: { "max-lines-per-function": ["error", { max: 80 }] },
  },
  // The shape of src/: no import cycle; the configuration layer knows no connector (it is given the
  // registries), and the pure core reads nothing and writes nothing.
  {
    files: ["src/**/*.ts"],
    plugins: { "import-x": importX },
    settings: {
      "import-x/extensions": [".ts", ".js"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
      "import-x/resolver-next": [createNodeResolver({ extensions: [".ts", ".js"] })],
    },
    rules: {
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
      "import-x/no-restricted-paths": [
        "error",
        {
          zones: [
            {
              target: "./src/config",
              from: ["./src/sources", "./src/destinations", "./src/runner", "./src/delivery", "./src/state", "./src/http"],
              message: "config/ is given the connectors through the registries (src/project.ts); it imports none",
            },
            {
              target: "./src/engine",
              from: ["./src/state", "./src/sources", "./src/destinations", "./src/runner", "./src/delivery", "./src/http"],
              message: "engine/ is the pure core: plain values in, plain values out",
            },
          ],
        },
      ],
    },
  },
);
