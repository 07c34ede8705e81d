import { Page } from 'playwright-core';
import type { Role } from '../../src/identity/principal';
import { bearer } from './bearer';
import { Scenario, createScenario } from './scenario';

/** What the portal's development sign-in page says, in each language the tests use. */
export interface Labels {
  signIn: string;
  devTitle: string;
  subject: string;
  groups: string;
  roles: Record<Role, string>;
  myAccess: string;
}

export const english: Labels = {
  signIn: 'Sign in',
  devTitle: 'Development sign-in',
  subject: 'User (subject)',
  groups: 'Groups',
  roles: { requester: 'Requester', approver: 'Approver', admin: 'IT admin', auditor: 'Auditor' },
  myAccess: 'My access',
};

export const dutch: Labels = {
  signIn: 'Aanmelden',
  devTitle: 'Aanmelden voor ontwikkeling',
  subject: 'Gebruiker (subject)',
  groups: 'Groepen',
  roles: { requester: 'Aanvrager', approver: 'Goedkeurder', admin: 'IT-beheerder', auditor: 'Auditor' },
  myAccess: 'Mijn toegang',
};

/**
 * The scenario's world (laptop-7 under a policy that needs no approver) plus a device with a name to
 * search by, lab-0042 "Lab bench 42", under a policy that does.
 */
export async function createPortalWorld(): Promise<Scenario> {
  const s = await createScenario();
  await s.h.api
    .post('/v1/devices')
    .set(bearer(s.tokens.admin))
    .send({ id: 'lab-0042', displayName: 'Lab bench 42', groups: ['lab'], agentKey: (await s.h.deviceKey()).publicJwk })
    .expect(201);
  await s.h.api
    .post('/v1/policies')
    .set(bearer(s.tokens.admin))
    .send({ name: 'helpdesk-lab', principals: { groups: ['helpdesk'] }, deviceGroups: ['lab'], maxDuration: 'PT2H', requireApproval: true })
    .expect(201);
  return s;
}

/** Fills in and sends the development sign-in page the browser is on (identity.mode local). */
export async function fillDevSignIn(page: Page, who: { subject: string; roles: readonly Role[]; groups?: string }, l: Labels = english): Promise<void> {
  await page.getByRole('heading', { level: 1, name: l.devTitle }).waitFor();
  await page.getByLabel(l.subject).fill(who.subject);
  for (const [role, label] of Object.entries(l.roles) as Array<[Role, string]>) {
    const box = page.getByRole('checkbox', { name: label });
    if ((await box.isChecked()) !== who.roles.includes(role)) await box.click();
  }
  await page.getByLabel(l.groups).fill(who.groups ?? '');
  await page.getByRole('main').getByRole('button', { name: l.signIn }).click();
}
