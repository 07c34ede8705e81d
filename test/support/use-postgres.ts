// The postgres project of jest.config.js: every test app in the file runs on a PostgreSQL cluster of its own.
process.env.JITBROKER_TEST_STORE = 'postgres';
