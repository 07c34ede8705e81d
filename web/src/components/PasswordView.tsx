import { Button, makeStyles, mergeClasses, Switch, Text, tokens, Tooltip } from '@fluentui/react-components';
import { useState } from 'react';
import { useI18n } from '../i18n/i18n';
import { groupsOf, kindOf, lookAlikes, spell } from './password-spelling';

const useStyles = makeStyles({
  field: {
    display: 'flex',
    flexWrap: 'wrap',
    alignItems: 'center',
    gap: tokens.spacingHorizontalM,
    padding: tokens.spacingVerticalM,
    border: `${tokens.strokeWidthThin} solid ${tokens.colorNeutralStroke1}`,
    borderRadius: tokens.borderRadiusMedium,
    backgroundColor: tokens.colorNeutralBackground1,
    fontFamily: tokens.fontFamilyMonospace,
    fontSize: tokens.fontSizeBase500,
    lineHeight: tokens.lineHeightBase500,
    overflowWrap: 'anywhere',
  },
  group: { display: 'inline-flex', gap: '1px' },
  // Capitals bold, digits blue, symbols dark orange: each kind looks different at a glance (contrast AA on white).
  upper: { fontWeight: tokens.fontWeightBold, color: tokens.colorNeutralForeground1 },
  lower: { color: tokens.colorNeutralForeground1 },
  digit: { color: tokens.colorPaletteBlueForeground2 },
  symbol: { color: tokens.colorPaletteDarkOrangeForeground2 },
  lookAlike: { textDecorationLine: 'underline', textDecorationStyle: 'dotted', textUnderlineOffset: '3px' },
  masked: { letterSpacing: '0.2em', color: tokens.colorNeutralForeground2 },
  actions: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalS, alignItems: 'center' },
  spelling: { margin: 0, paddingLeft: tokens.spacingHorizontalXL, columns: '14rem auto' },
});

/**
 * The password, masked until Show. Masked, the DOM holds twelve dots and nothing of the password
 * (not even its length); shown, it is grouped by four with each kind of character set apart, and
 * spelled out on request. The parent removes it from memory and the page after a minute.
 */
export function PasswordView({ password, onCopied }: { password: string; onCopied: () => void }) {
  const styles = useStyles();
  const { t, language } = useI18n();
  const [shown, setShown] = useState(false);
  const [spelled, setSpelled] = useState(false);
  const copy = async () => {
    await navigator.clipboard.writeText(password);
    onCopied();
  };
  return (
    <div>
      <div className={styles.field} data-testid="password" aria-label={t('reveal.password')} role="group">
        {shown ? (
          groupsOf(password).map((g, i) => (
            <span key={i} className={styles.group}>
              {[...g].map((c, j) => (
                <span key={j} className={mergeClasses(styles[kindOf(c)], lookAlikes.has(c) && styles.lookAlike)}>
                  {c}
                </span>
              ))}
            </span>
          ))
        ) : (
          <span className={styles.masked} aria-label={t('reveal.masked')}>
            ••••••••••••
          </span>
        )}
      </div>
      <div className={styles.actions}>
        <Button onClick={() => setShown((s) => !s)} aria-pressed={shown}>
          {shown ? t('reveal.hide') : t('reveal.show')}
        </Button>
        <Tooltip content={t('reveal.copyHint')} relationship="description">
          <Button appearance="primary" onClick={() => void copy()}>
            {t('reveal.copy')}
          </Button>
        </Tooltip>
        <Switch checked={spelled} disabled={!shown} onChange={(_e, d) => setSpelled(d.checked)} label={t('reveal.spell')} />
      </div>
      {shown && <Text size={200}>{t('reveal.legend')}</Text>}
      {shown && spelled && (
        <ol className={styles.spelling} aria-label={t('reveal.spelling')}>
          {[...password].map((c, i) => (
            <li key={i}>{spell(c, language)}</li>
          ))}
        </ol>
      )}
    </div>
  );
}
