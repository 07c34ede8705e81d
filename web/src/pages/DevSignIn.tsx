import { Button, Checkbox, Field, Input, makeStyles, MessageBar, MessageBarBody, Text, Title1, tokens } from '@fluentui/react-components';
import { FormEvent, useState } from 'react';
import { ApiError, asApiError, commaList, fieldErrorsOf, send } from '../api/http';
import { allRoles, type Role } from '../api/types';
import { useI18n } from '../i18n/i18n';
import { queryParam } from '../router';

const useStyles = makeStyles({
  page: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalL, maxWidth: '32rem' },
  heading: { margin: 0 },
  form: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM },
  roles: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalS, border: 'none', margin: 0, padding: 0 },
});

/**
 * Where to go after signing in: a path of this portal, resolved the way the browser will resolve it
 * (a tab or a backslash inside `/\t/evil.example` would otherwise turn it into another site), else `/`.
 */
export function samePortalPath(returnTo: string | undefined): string {
  if (!returnTo) return '/';
  const u = new URL(returnTo, window.location.origin);
  return u.origin === window.location.origin && returnTo.startsWith('/') ? `${u.pathname}${u.search}` : '/';
}

/** Only where identity.mode is local (loopback): sign in as anyone, to try the portal on one machine. */
export default function DevSignIn() {
  const styles = useStyles();
  const { t } = useI18n();
  const [subject, setSubject] = useState('');
  const [name, setName] = useState('');
  const [roles, setRoles] = useState<Role[]>(['requester']);
  const [groups, setGroups] = useState('');
  const [error, setError] = useState<ApiError>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await send('POST', '/auth/dev-session', {
        subject,
        ...(name ? { name } : {}),
        roles,
        groups: commaList(groups),
      });
      window.location.replace(samePortalPath(queryParam('returnTo')));
    } catch (err) {
      setError(asApiError(err));
    }
  };
  const errors = fieldErrorsOf(error);
  return (
    <div className={styles.page}>
      <Title1 as="h1" className={styles.heading} tabIndex={-1}>
        {t('dev.title')}
      </Title1>
      <MessageBar intent="warning">
        <MessageBarBody>{t('dev.warning')}</MessageBarBody>
      </MessageBar>
      <form className={styles.form} onSubmit={(e) => void submit(e)} noValidate>
        <Field label={t('dev.subject')} required validationMessage={errors.subject}>
          <Input value={subject} onChange={(_e, d) => setSubject(d.value)} autoComplete="username" />
        </Field>
        <Field label={t('dev.name')} validationMessage={errors.name}>
          <Input value={name} onChange={(_e, d) => setName(d.value)} autoComplete="name" />
        </Field>
        <fieldset className={styles.roles}>
          <legend>
            <Text weight="semibold">{t('dev.roles')}</Text>
          </legend>
          {allRoles.map((r) => (
            <Checkbox key={r} label={t(`role.${r}`)} checked={roles.includes(r)} onChange={(_e, d) => setRoles((rs) => (d.checked ? [...rs, r] : rs.filter((x) => x !== r)))} />
          ))}
        </fieldset>
        <Field label={t('dev.groups')} hint={t('dev.groupsHint')} validationMessage={errors.groups}>
          <Input value={groups} onChange={(_e, d) => setGroups(d.value)} />
        </Field>
        {error && !error.errors.length && (
          <MessageBar intent="error">
            <MessageBarBody>{error.message}</MessageBarBody>
          </MessageBar>
        )}
        <div>
          <Button type="submit" appearance="primary">
            {t('dev.submit')}
          </Button>
        </div>
      </form>
    </div>
  );
}
