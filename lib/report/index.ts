/** The auditor's access report: model, Markdown, Mermaid diagram, infrastructure cross-check. */
export * from "./access-model";
export * from "./access-report";
export * from "./cross-check";
export * from "./infrastructure";
export { accessDiagram, mermaidLabel } from "./mermaid";
export * from "./suppressions";
