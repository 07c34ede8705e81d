import { Button, Checkbox, Field, Input, makeStyles, MessageBar, MessageBarBody, Text, Title1, tokens } from '@fluentui/react-components';
import { FormEvent, useState } from 'react';
import { ApiError, send } from '../api/http';
import type { Role } from '../api/types';
import { useI18n } from '../i18n/i18n';
import { queryParam } from '../router';

const useStyles = makeStyles({
  page: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalL, maxWidth: '32rem' },
  heading: { margin: 0 },
  form: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM },
  roles: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalS, border: 'none', margin: 0, padding: 0 },
});

const allRoles: Role[] = ['requester', 'approver', 'admin', 'auditor'];

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
        groups: groups
          .split(',')
          .map((g) => g.trim())
          .filter(Boolean),
      });
      const returnTo = queryParam('returnTo') ?? '/';
      // Only a path of this portal: never another site, whatever the link said.
      window.location.replace(/^\/(?![/\\])/.test(returnTo) ? returnTo : '/');
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'network', String(err)));
    }
  };
  const fieldError = (f: string) => error?.errors.find((e) => e.path.replace(/^body\./, '').startsWith(f))?.message;
  return (
    <div className={styles.page}>
      <Title1 as="h1" className={styles.heading} tabIndex={-1}>
        {t('dev.title')}
      </Title1>
      <MessageBar intent="warning">
        <MessageBarBody>{t('dev.warning')}</MessageBarBody>
      </MessageBar>
      <form className={styles.form} onSubmit={(e) => void submit(e)} noValidate>
        <Field label={t('dev.subject')} required validationMessage={fieldError('subject')}>
          <Input value={subject} onChange={(_e, d) => setSubject(d.value)} autoComplete="username" />
        </Field>
        <Field label={t('dev.name')} validationMessage={fieldError('name')}>
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
        <Field label={t('dev.groups')} hint={t('dev.groupsHint')} validationMessage={fieldError('groups')}>
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
