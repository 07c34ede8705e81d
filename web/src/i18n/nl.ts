import type { Messages } from './en';

/** De Nederlandse teksten van het portaal; typed as Messages, so a missing or extra key fails the build. */
export const nl: Messages = {
  'app.name': 'jitbroker',
  'app.tagline': 'Tijdelijke beheerdersrechten op beheerde apparaten, precies wanneer nodig',
  'nav.label': 'Portalen',
  'lang.label': 'Taal',
  'lang.en': 'English',
  'lang.nl': 'Nederlands',
  'home.title': 'Aanmelden bij de portalen',
  'home.intro': 'Aangewezen supportmedewerkers gebruiken deze portalen met hun organisatieaccount.',
  'home.elevation.title': 'Elevatieportaal',
  'home.elevation.body':
    'Tijdelijke toegang tot het lokale beheerdersaccount van één beheerd apparaat, voor de mensen die uw IT-beheerder heeft aangewezen. Elk getoond wachtwoord wordt eerst vastgelegd en na gebruik gewijzigd.',
  'home.escalation.title': 'Escalatieportaal',
  'home.escalation.body': 'Sev C-verzoeken rechtstreeks naar het operationele team, per categorie doorgestuurd.',
  'home.signin.pending': 'Aanmelden vanuit de browser komt in de volgende release; gebruik tot dan de opdrachtregel (jitbroker --help).',
  'notFound.title': 'Pagina niet gevonden',
  'notFound.body': 'Op dit adres staat geen pagina.',
  'notFound.home': 'Naar de startpagina',
};
