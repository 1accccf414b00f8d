/** The clean-room policy: model, YAML loading, validation and its compilers. No cdktf imports. */
export * from "./model";
export * from "./validate";
export * from "./load";
export * from "./names";
export * from "./party-names";
export * from "./consortium";
export * from "./condition";
export * from "./members";
export * from "./document";
export * from "./cidr";
export * from "./iam-limits";
export * from "./job-service-config";
