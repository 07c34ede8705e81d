import { Link, Text, Title1 } from '@fluentui/react-components';
import { useI18n } from '../i18n/i18n';
import { navigate } from '../router';

export default function NotFound() {
  const { t } = useI18n();
  return (
    <>
      <Title1 as="h1" tabIndex={-1}>
        {t('notFound.title')}
      </Title1>
      <p>
        <Text>{t('notFound.body')}</Text>
      </p>
      <Link
        href="/"
        onClick={(e) => {
          e.preventDefault();
          navigate('/');
        }}
      >
        {t('notFound.home')}
      </Link>
    </>
  );
}
