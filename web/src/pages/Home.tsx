import { Card, CardHeader, makeStyles, MessageBar, MessageBarBody, Text, Title1, tokens } from '@fluentui/react-components';
import { useI18n } from '../i18n/i18n';

const useStyles = makeStyles({
  page: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalL },
  heading: { margin: 0 },
  portals: { display: 'grid', gap: tokens.spacingHorizontalL, gridTemplateColumns: 'repeat(auto-fit, minmax(18rem, 1fr))' },
});

/** The start page: what the two portals are for, and how to sign in. */
export default function Home() {
  const styles = useStyles();
  const { t } = useI18n();
  return (
    <div className={styles.page}>
      <Title1 as="h1" className={styles.heading}>
        {t('home.title')}
      </Title1>
      <Text>{t('home.intro')}</Text>
      <div className={styles.portals}>
        <Card>
          <CardHeader
            header={
              <Text as="h2" weight="semibold" size={500} className={styles.heading}>
                {t('home.elevation.title')}
              </Text>
            }
          />
          <Text>{t('home.elevation.body')}</Text>
        </Card>
        <Card>
          <CardHeader
            header={
              <Text as="h2" weight="semibold" size={500} className={styles.heading}>
                {t('home.escalation.title')}
              </Text>
            }
          />
          <Text>{t('home.escalation.body')}</Text>
        </Card>
      </div>
      <MessageBar intent="info">
        <MessageBarBody>{t('home.signin.pending')}</MessageBarBody>
      </MessageBar>
    </div>
  );
}
