// Checks KQL queries with Microsoft's own parser and binder (Kusto.Language, npm
// @kusto/language-service-next) against a table schema, all in one Node process.
// stdin: {"table": "resources", "columns": {"id": "string", ...}, "queries": ["...", ...]}, or with
// several tables: {"tables": {"AppTraces": {"Message": "string", ...}, ...}, "queries": [...]}
// stdout: [{"diagnostics": [{"code", "severity", "message", "start"}], "operators": ["FilterOperator", ...]}]
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const dir = "@kusto/language-service-next/";
require(dir + "bridge.js"); // Bridge.NET's runtime, which Kusto.Language.Bridge.js runs on (globals)
require(dir + "Kusto.Language.Bridge.js");
const K = globalThis.Kusto.Language;

const input = JSON.parse(readFileSync(0, "utf8"));
const tables = input.tables ?? { [input.table]: input.columns };
const symbols = Object.entries(tables).map(([table, columns]) => {
  const schema = "(" + Object.entries(columns).map(([name, type]) => `['${name}']:${type}`).join(", ") + ")";
  return new K.Symbols.TableSymbol.$ctor7(table, schema, null);
});
const globals = K.GlobalState.Default.WithDatabase(new K.Symbols.DatabaseSymbol.ctor("db", symbols));

const results = input.queries.map((text) => {
  const code = K.KustoCode.ParseAndAnalyze(text, globals);
  const found = code.GetDiagnostics();
  const diagnostics = [];
  for (let i = 0; i < found.Count; i++) {
    const d = found.getItem(i);
    diagnostics.push({ code: d.Code, severity: d.Severity, message: d.Message, start: d.Start });
  }
  const operators = [];
  code.Syntax.WalkElements((element) => {
    if (element instanceof K.Syntax.QueryOperator) {
      operators.push(System.Enum.toString(K.Syntax.SyntaxKind, element.Kind));
    }
  });
  return { diagnostics, operators };
});
process.stdout.write(JSON.stringify(results));
