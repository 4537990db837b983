import { describe, expect, it } from 'vitest';
import { redactText, redactUrl, urlPassword } from './redact.js';

describe('redactUrl', () => {
  it('hides the password of a postgres URL and keeps the rest', () => {
    expect(redactUrl('postgres://eqprop:s3cr%2Fet@127.0.0.1:5433/eqprop')).toBe('postgres://eqprop:***@127.0.0.1:5433/eqprop');
    expect(redactUrl('postgresql://u:p@db.example.org/runs?sslmode=require')).toBe('postgresql://u:***@db.example.org/runs?sslmode=require');
  });
  it('leaves a URL without a password as it is', () => {
    expect(redactUrl('postgres://eqprop@localhost:5432/eqprop')).toBe('postgres://eqprop@localhost:5432/eqprop');
  });
  it('hides a password given as a query parameter', () => {
    expect(redactUrl('postgres://u@h/db?password=hunter22&sslmode=disable')).toBe('postgres://u@h/db?password=***&sslmode=disable');
  });
  it('hides the password of a string that is not a valid URL', () => {
    const out = redactUrl('postgres://u:hunter22@host:notaport/db');
    expect(out).not.toContain('hunter22');
    expect(out).toBe('postgres://u:***@host:notaport/db');
  });
});

describe('redactText', () => {
  it('hides URL passwords and the given secrets anywhere in a message', () => {
    const text = 'connect to postgres://u:hunter22@h:1/d failed; password hunter22 and also hunter%2F22';
    const out = redactText(text, ['hunter22', 'hunter/22']);
    expect(out).not.toMatch(/hunter/);
  });
});

describe('urlPassword', () => {
  it('reads the decoded password', () => {
    expect(urlPassword('postgres://u:a%2Fb@h/d')).toBe('a/b');
    expect(urlPassword('postgres://u@h/d')).toBeUndefined();
  });
});
