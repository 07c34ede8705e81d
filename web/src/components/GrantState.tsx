import { Badge, BadgeProps } from '@fluentui/react-components';
import type { GrantState } from '../api/types';
import { useI18n } from '../i18n/i18n';
import { formatCountdown } from '../i18n/format';
import { useNow } from './hooks';

const colour: Record<GrantState, BadgeProps['color']> = { pending: 'warning', active: 'success', denied: 'danger', expired: 'informative', revoked: 'informative' };

export function StateBadge({ state }: { state: GrantState }) {
  const { t } = useI18n();
  return (
    <Badge appearance="filled" color={colour[state]} shape="rounded">
      {t(`state.${state}`)}
    </Badge>
  );
}

/** Time left on an active grant, ticking; announced politely only when a screen reader asks (no live region every second). */
export function Countdown({ expiresAt }: { expiresAt: string }) {
  const { t } = useI18n();
  const now = useNow();
  const left = Date.parse(expiresAt) - now;
  return <span>{left > 0 ? t('grant.timeLeft', { time: formatCountdown(left) }) : t('grant.timeUp')}</span>;
}
