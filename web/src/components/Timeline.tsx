import { makeStyles, Text, tokens } from '@fluentui/react-components';
import type { Timeline as TimelineData, TimelineEntry } from '../api/types';
import { useI18n } from '../i18n/i18n';
import { formatDateTime, formatTime } from '../i18n/format';
import type { MessageKey } from '../i18n/en';

const useStyles = makeStyles({
  list: { listStyleType: 'none', margin: 0, padding: 0, display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalS },
  entry: {
    display: 'grid',
    gridTemplateColumns: '4rem 1fr',
    gap: tokens.spacingHorizontalM,
    paddingLeft: tokens.spacingHorizontalS,
    borderLeft: `${tokens.strokeWidthThick} solid ${tokens.colorBrandStroke1}`,
  },
  time: { color: tokens.colorNeutralForeground2, fontVariantNumeric: 'tabular-nums' },
});

function actorName(e: TimelineEntry): string {
  return e.actor?.name ?? e.actor?.subject ?? '';
}

/** One request's story, as the audit log and the device tell it: requested → decided → revealed → ended → rotated. */
export function Timeline({ timeline }: { timeline: TimelineData }) {
  const styles = useStyles();
  const { t, language } = useI18n();
  if (timeline.entries.length === 0) return <Text>{t('timeline.empty')}</Text>;
  return (
    <ol className={styles.list}>
      {timeline.entries.map((e, i) => (
        <li key={i} className={styles.entry}>
          <time dateTime={e.at} title={formatDateTime(e.at, language)} className={styles.time}>
            {formatTime(e.at, language)}
          </time>
          <span>
            {t(`timeline.${e.kind}` as MessageKey, {
              who: actorName(e),
              time: formatTime(e.at, language),
              version: e.version ?? '',
              dueBy: e.dueBy ? formatTime(e.dueBy, language) : '',
            })}
            {e.ending ? ` (${t(`timeline.ending.${e.ending}`, { who: actorName(e) })})` : null}
            {e.reason ? <Text size={200}> — {e.reason}</Text> : null}
          </span>
        </li>
      ))}
    </ol>
  );
}
