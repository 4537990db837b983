export function swiftshaderEnv(base?: Record<string, string | undefined>): { env: Record<string, string> } | { missing: string };
