import { describe, expect, it } from 'vitest';
import { redactPaths } from '../../src/service/api/errors.ts';

describe("the bank API's answers", () => {
  it('never show a server file path, only the file name', () => {
    const body = JSON.stringify({ error: { message: '/var/lib/jinqiao/bank/jobs/j1/model-bank.json: no such file', location: { file: '/srv/data/customers.csv' } } });
    const answer = redactPaths(body);
    expect(answer).not.toMatch(/\/var\/lib|\/srv\/data/);
    expect(answer).toContain('…/model-bank.json: no such file');
    expect(answer).toContain('"file":"…/customers.csv"');
  });

  it('leave URLs, relative names and API routes as they are', () => {
    const text = 'see http://127.0.0.1:8401/v1/jobs, docs/openapi.json, GET /v1/jobs and /openapi.json';
    expect(redactPaths(text)).toBe(text);
  });
});
