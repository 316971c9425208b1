-- 02_args.sql: flov7.args() and the argument readers.
BEGIN;
SELECT plan(42);
\ir helpers.psql

SELECT is(flov7.args('{"id":"p"}', '{"id":"q","limit":"5"}', '{"id":"b","name":"n"}'),
		  '{"id":"p","limit":"5","name":"n"}'::jsonb, 'path wins over body, body over query');
SELECT is(flov7.args(NULL, NULL, NULL), '{}'::jsonb, 'no input gives an empty object');
SELECT is(flov7.args('{}', '{}', '  '), '{}'::jsonb, 'a blank body is no body');
SELECT is(flov7.args(NULL, '{"a":"1"}', NULL), '{"a":"1"}'::jsonb, 'query only');
SELECT throws_ok($$SELECT flov7.args('{}', '{}', '{"a":')$$, '22P02', 'request body is not valid JSON',
				 'invalid JSON body is 22P02');
SELECT throws_ok($$SELECT flov7.args('{}', '{}', '[1,2]')$$, '22023', 'request body must be a JSON object',
				 'a body that is not an object is 22023');
SELECT throws_ok($$SELECT flov7.args('{}', '{}', '"x"')$$, '22023', NULL, 'a scalar body is 22023');
SELECT throws_ok($$SELECT flov7.args('[]', '{}', NULL)$$, '22023', NULL, 'path parameters must be an object');
SELECT throws_ok($$SELECT flov7.args('{}', 'null', NULL)$$, '22023', NULL, 'query parameters must be an object');
SELECT throws_ok(format('SELECT flov7.args(NULL, NULL, %L)', repeat('[', 20000) || repeat(']', 20000)), '22023',
				 'request body is nested too deeply', 'a deeply nested body is bad input, not a stack overflow');

SELECT is(flov7.arg_text('{"a":"x"}', 'a'), 'x', 'arg_text reads a string');
SELECT throws_ok($$SELECT flov7.arg_text('{}', 'name')$$, '22023', 'missing required field "name"',
				 'arg_text: a missing required field names it');
SELECT ok(flov7.arg_text('{"a":null}', 'a', false) IS NULL, 'arg_text: optional null');
SELECT throws_ok($$SELECT flov7.arg_text('{"name":5}', 'name')$$, '22023', 'field "name" must be a string',
				 'arg_text: wrong type');
SELECT throws_ok($$SELECT flov7.arg_text('{"name":"  "}', 'name')$$, '22023', NULL, 'arg_text: blank required');
SELECT throws_ok($$SELECT flov7.arg_text('{"name":"abcdef"}', 'name', true, 3)$$, '22023', 'field "name" is too long',
				 'arg_text: too long');

SELECT is(flov7.arg_int('{"limit":"5"}', 'limit', 20, 1, 100), 5, 'arg_int reads a numeric string');
SELECT is(flov7.arg_int('{"limit":7}', 'limit', 20, 1, 100), 7, 'arg_int reads a number');
SELECT is(flov7.arg_int('{}', 'limit', 20, 1, 100), 20, 'arg_int default');
SELECT throws_ok($$SELECT flov7.arg_int('{"limit":"0"}', 'limit', 20, 1, 100)$$, '22023',
				 'field "limit" must be between 1 and 100', 'arg_int lower bound');
SELECT throws_ok($$SELECT flov7.arg_int('{"limit":101}', 'limit', 20, 1, 100)$$, '22023', NULL, 'arg_int upper bound');
SELECT throws_ok($$SELECT flov7.arg_int('{"offset":"-1"}', 'offset', 0, 0)$$, '22023',
				 'field "offset" must be at least 0', 'arg_int open upper bound');
SELECT throws_ok($$SELECT flov7.arg_int('{"limit":"ten"}', 'limit', 20, 1, 100)$$, '22023',
				 'field "limit" must be an integer', 'arg_int refuses words');
SELECT throws_ok($$SELECT flov7.arg_int('{"limit":1.5}', 'limit', 20, 1, 100)$$, '22023', NULL, 'arg_int refuses fractions');
SELECT throws_ok($$SELECT flov7.arg_int('{"limit":"99999999999999"}', 'limit', 20, 1, 100)$$, '22023', NULL,
				 'arg_int refuses huge numbers');

SELECT is(flov7.arg_bool('{"b":"true"}', 'b'), true, 'arg_bool reads "true"');
SELECT is(flov7.arg_bool('{"b":false}', 'b'), false, 'arg_bool reads false');
SELECT throws_ok($$SELECT flov7.arg_bool('{"b":"yes"}', 'b')$$, '22023', 'field "b" must be true or false',
				 'arg_bool refuses other words');
SELECT throws_ok($$SELECT flov7.arg_bool('{"b":"true"}', 'b', NULL, true)$$, '22023', 'field "b" must be a JSON boolean',
				 'strict arg_bool (body fields) wants a JSON boolean');

SELECT is(flov7.arg_uuid('{"id":"00000000-0000-0000-0000-000000000001"}', 'id'),
		  '00000000-0000-0000-0000-000000000001'::uuid, 'arg_uuid reads a uuid');
SELECT throws_ok($$SELECT flov7.arg_uuid('{"id":"42"}', 'id')$$, '22P02', 'field "id" must be a UUID',
				 'arg_uuid: a bad uuid is 22P02 naming the field');
SELECT throws_ok($$SELECT flov7.arg_uuid('{}', 'id')$$, '22023', NULL, 'arg_uuid: missing');

SELECT is(flov7.arg_enum('{"r":"user"}', 'r', ARRAY['admin', 'user']), 'user', 'arg_enum accepts a member');
SELECT throws_ok($$SELECT flov7.arg_enum('{"r":"root"}', 'r', ARRAY['admin', 'user'])$$, '22023',
				 'field "r" must be one of: admin, user', 'arg_enum lists the allowed values');
SELECT ok(flov7.arg_enum('{}', 'r', ARRAY['admin'], false) IS NULL, 'arg_enum optional');

SELECT is(flov7.arg_timestamptz('{"t":"2030-01-01T00:00:00Z"}', 't'), '2030-01-01T00:00:00Z'::timestamptz,
		  'arg_timestamptz reads ISO 8601');
SELECT throws_ok($$SELECT flov7.arg_timestamptz('{"t":"someday"}', 't')$$, '22007',
				 'field "t" must be an ISO 8601 timestamp', 'arg_timestamptz names the field');
SELECT throws_ok($$SELECT flov7.arg_object('{"c":[1]}', 'c')$$, '22023', 'field "c" must be a JSON object',
				 'arg_object refuses arrays');
SELECT is(flov7.arg_text_array('{"p":["a","b"]}', 'p'), ARRAY['a', 'b'], 'arg_text_array');
SELECT throws_ok($$SELECT flov7.arg_text_array('{"p":["a",1]}', 'p')$$, '22023', NULL,
				 'arg_text_array refuses non-strings');

SELECT is(flov7.normalize_email('  Ann@Example.COM '), 'ann@example.com', 'emails are trimmed and lower-cased');
SELECT throws_ok($$SELECT flov7.normalize_email('ann@')$$, '22023', 'invalid email address', 'bad emails are 22023');

SELECT * FROM finish();
ROLLBACK;
