import { Badge, Button, Combobox, Dropdown, Field, Input, Link, makeStyles, MessageBar, MessageBarBody, Option, Text, Textarea, Title1, tokens } from '@fluentui/react-components';
import { FormEvent, useEffect, useMemo, useState } from 'react';
import { ApiError, asApiError, fieldErrorsOf, getJson, send } from '../api/http';
import type { DeviceMatch, Grant } from '../api/types';
import { formatDuration, toIsoDuration } from '../i18n/format';
import { useI18n } from '../i18n/i18n';
import { navigate, onLinkClick } from '../router';

const useStyles = makeStyles({
  page: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalL, maxWidth: '40rem' },
  heading: { margin: 0 },
  form: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM },
  option: { display: 'flex', flexDirection: 'column' },
  actions: { display: 'flex', gap: tokens.spacingHorizontalM },
});

/**
 * The durations the form offers: steps of 15 minutes up to the policy's maximum (hourly past 12
 * hours and daily past 2 days, so a long maximum is still a short list).
 */
export function durationSteps(maxSeconds: number): number[] {
  const steps: number[] = [];
  for (let s = 900; s <= maxSeconds;) {
    steps.push(s);
    s += s < 12 * 3600 ? 900 : s < 48 * 3600 ? 3600 : 86400;
  }
  return steps;
}

export default function RequestAccess() {
  const styles = useStyles();
  const { t, language } = useI18n();
  const [query, setQuery] = useState('');
  const [matches, setMatches] = useState<DeviceMatch[]>([]);
  const [device, setDevice] = useState<DeviceMatch>();
  const [reason, setReason] = useState('');
  const [ticket, setTicket] = useState('');
  const [duration, setDuration] = useState<number>();
  const [error, setError] = useState<ApiError>();
  const [busy, setBusy] = useState(false);
  const [listOpen, setListOpen] = useState(false);

  // Search as the user types, a moment after they stop; an empty box lists their recent devices.
  useEffect(() => {
    let stale = false;
    const timer = setTimeout(() => {
      getJson<{ items: DeviceMatch[] }>(`/v1/elevation/devices?${new URLSearchParams(query ? { q: query } : {}).toString()}`).then(
        (r) => !stale && setMatches(r.items),
        (e: unknown) => !stale && setError(e instanceof ApiError ? e : undefined),
      );
    }, 200);
    return () => {
      stale = true;
      clearTimeout(timer);
    };
  }, [query]);

  const eligibility = device?.eligibility;
  const steps = useMemo(() => durationSteps(eligibility?.maxDurationSeconds ?? 0), [eligibility]);
  useEffect(() => setDuration(steps.includes(3600) ? 3600 : steps[0]), [steps]);
  const errors = fieldErrorsOf(error);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!device || duration === undefined) return;
    setBusy(true);
    setError(undefined);
    try {
      const grant = await send<Grant>('POST', '/v1/grants', { deviceId: device.id, reason, ...(ticket ? { ticket } : {}), duration: toIsoDuration(duration) });
      if (grant) navigate(`/grants/${grant.id}`);
    } catch (err) {
      setError(asApiError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className={styles.page}>
      <Title1 as="h1" className={styles.heading} tabIndex={-1}>
        {t('request.title')}
      </Title1>
      <form className={styles.form} onSubmit={(e) => void submit(e)} noValidate>
        <Field label={t('request.device')} hint={t('request.deviceHint')} required validationMessage={errors.deviceId}>
          <Combobox
            freeform
            placeholder={t('request.devicePlaceholder')}
            value={query}
            open={listOpen}
            onOpenChange={(_e, d) => setListOpen(d.open)}
            // Pasted or typed, a new text shows its matches at once.
            onChange={(e) => {
              setQuery(e.target.value);
              setDevice(undefined);
              setListOpen(true);
            }}
            onOptionSelect={(_e, d) => {
              const chosen = matches.find((m) => m.id === d.optionValue);
              setDevice(chosen);
              setQuery(chosen ? `${chosen.displayName} (${chosen.id})` : '');
            }}
          >
            {matches.length === 0 ? (
              <Option disabled value="" text="">
                {t('request.noDevices')}
              </Option>
            ) : (
              matches.map((m) => (
                <Option key={m.id} value={m.id} text={`${m.displayName} (${m.id})`}>
                  <div className={styles.option}>
                    <span>
                      {m.displayName}{' '}
                      {m.recent && (
                        <Badge appearance="tint" size="small">
                          {t('request.recent')}
                        </Badge>
                      )}{' '}
                      {!m.eligibility.allowed && (
                        <Badge appearance="tint" color="danger" size="small">
                          {t('request.notAllowed')}
                        </Badge>
                      )}
                    </span>
                    <Text size={200}>{m.id}</Text>
                  </div>
                </Option>
              ))
            )}
          </Combobox>
        </Field>

        {device && eligibility && !eligibility.allowed && (
          <MessageBar intent="warning">
            <MessageBarBody>
              {t('request.refused')} {eligibility.reason}
            </MessageBarBody>
          </MessageBar>
        )}
        {device && eligibility?.openGrant && (
          <MessageBar intent="info">
            <MessageBarBody>
              {t('request.open')}{' '}
              <Link href={`/grants/${eligibility.openGrant.id}`} onClick={onLinkClick(`/grants/${eligibility.openGrant.id}`)}>
                {t('request.openLink')}
              </Link>
            </MessageBarBody>
          </MessageBar>
        )}
        {device && eligibility?.allowed && (
          <>
            <MessageBar intent="success">
              <MessageBarBody>
                {t('request.allowed', { max: formatDuration(eligibility.maxDurationSeconds ?? 0, language) })}{' '}
                {eligibility.requireApproval ? t('request.needsApproval') : t('request.noApproval')}
              </MessageBarBody>
            </MessageBar>
            <Field label={t('request.reason')} required validationMessage={errors.reason}>
              <Textarea value={reason} maxLength={500} onChange={(_e, d) => setReason(d.value)} resize="vertical" />
            </Field>
            <Field
              label={t('request.ticket')}
              required={eligibility.requireTicket}
              hint={eligibility.ticketPattern ? t('request.ticketPattern', { pattern: eligibility.ticketPattern }) : undefined}
              validationMessage={errors.ticket}
            >
              <Input value={ticket} maxLength={100} onChange={(_e, d) => setTicket(d.value)} />
            </Field>
            <Field
              label={t('request.duration')}
              hint={t('request.durationHint', { max: formatDuration(eligibility.maxDurationSeconds ?? 0, language) })}
              validationMessage={errors.duration}
            >
              <Dropdown
                value={duration === undefined ? '' : formatDuration(duration, language)}
                selectedOptions={duration === undefined ? [] : [String(duration)]}
                onOptionSelect={(_e, d) => d.optionValue && setDuration(Number(d.optionValue))}
              >
                {steps.map((s) => (
                  <Option key={s} value={String(s)}>
                    {formatDuration(s, language)}
                  </Option>
                ))}
              </Dropdown>
            </Field>
          </>
        )}
        {error && !Object.keys(errors).length && (
          <MessageBar intent="error">
            <MessageBarBody>{error.message}</MessageBarBody>
          </MessageBar>
        )}
        <div className={styles.actions}>
          <Button type="submit" appearance="primary" disabled={!eligibility?.allowed || !!eligibility.openGrant || busy}>
            {t('request.submit')}
          </Button>
          <Button as="a" href="/" onClick={onLinkClick('/')}>
            {t('common.cancel')}
          </Button>
        </div>
      </form>
    </div>
  );
}
