/** The portal's English strings: the catalogue every other language must match key for key (see nl.ts). */
export const en = {
  'app.name': 'jitbroker',
  'app.tagline': 'Just-in-time administrator access to managed devices',
  'nav.label': 'Portals',
  'lang.label': 'Language',
  'lang.en': 'English',
  'lang.nl': 'Nederlands',
  'home.title': 'Sign in to the portals',
  'home.intro': 'Designated support staff use these portals with their organisation account.',
  'home.elevation.title': 'Elevation portal',
  'home.elevation.body':
    "Temporary access to one managed device's local administrator account, for the people your IT admin designated. Every password shown is audited first and changed after use.",
  'home.escalation.title': 'Escalation portal',
  'home.escalation.body': 'Sev C requests straight to the operations team, routed by category.',
  'home.signin.pending': 'Signing in from the browser comes with the next release; until then, use the command line (jitbroker --help).',
  'notFound.title': 'Page not found',
  'notFound.body': 'There is no page at this address.',
  'notFound.home': 'Go to the start page',
} as const;

export type MessageKey = keyof typeof en;
export type Messages = Record<MessageKey, string>;
