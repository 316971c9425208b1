-- 16_templates_run.sql: every seeded template runs end to end with the in-database node types.
BEGIN;
SELECT plan(10);
\ir helpers.psql

SELECT pg_temp.mkuser('tpl.a@pgtap.test', 'user', 'enterprise') AS a \gset

-- Use a template as the user, execute it with an input, run every due step; the execution.
CREATE FUNCTION pg_temp.run_template(p_uid uuid, p_name text, p_input jsonb) RETURNS flov7.workflow_executions
LANGUAGE plpgsql AS $$
DECLARE
	v_wf uuid;
	v_ex uuid;
	v_row flov7.workflow_executions;
BEGIN
	PERFORM pg_temp.act_as(p_uid);
	v_wf := (flov7_api.template_use(jsonb_build_object('id', (SELECT t.id FROM flov7.workflow_templates t WHERE t.name = p_name)))
			 ->> 'id')::uuid;
	v_ex := (flov7.execute(v_wf, p_input) ->> 'id')::uuid;
	PERFORM pg_temp.act_dba();
	PERFORM flov7.run_ready(60);
	SELECT * INTO v_row FROM flov7.workflow_executions e WHERE e.id = v_ex;
	RETURN v_row;
END
$$;

SELECT pg_temp.run_template(:'a', 'Review large orders', '{"order_id": 7, "amount": 150, "customer": "Ada"}') AS r1 \gset
SELECT is((:'r1'::flov7.workflow_executions).status, 'completed', 'Review large orders runs');
SELECT is((SELECT message FROM flov7.notifications WHERE user_id = :'a' AND type = 'order.review'), 'Order 7 from Ada needs a review.',
		  'Review large orders: the large order is flagged');

INSERT INTO flov7.notifications (user_id, type, title) VALUES (:'a', 'error_alert', 'disk full'), (:'a', 'info', 'hello');
SELECT pg_temp.run_template(:'a', 'Digest of unread alerts', '{"limit": 10}') AS r2 \gset
SELECT is((:'r2'::flov7.workflow_executions).status, 'completed', 'Digest of unread alerts runs (db_query as the owner)');
SELECT is((SELECT jsonb_array_length(data -> 'alerts') FROM flov7.notifications WHERE user_id = :'a' AND type = 'digest'), 1,
		  'Digest of unread alerts: only the error alert');

SELECT pg_temp.run_template(:'a', 'Route tickets by priority', '{"priority": "medium", "subject": "Printer"}') AS r3 \gset
SELECT is((SELECT title || ': ' || message FROM flov7.notifications WHERE user_id = :'a' AND type = 'ticket.normal'), 'New ticket: Printer',
		  'Route tickets by priority: the normal branch');

SELECT pg_temp.run_template(:'a', 'Validate incoming data', '{"email": "x@example.com", "age": 3}') AS r4 \gset
SELECT is((:'r4'::flov7.workflow_executions).output_data, '{"data_2": {"data": {"age": 3, "email": "x@example.com"}, "valid": true, "errors": []}}',
		  'Validate incoming data: valid data is normalized');

SELECT pg_temp.run_template(:'a', 'Reminder after a delay', '{"delay_seconds": 0, "message": "stretch"}') AS r5 \gset
SELECT is((SELECT message FROM flov7.notifications WHERE user_id = :'a' AND type = 'reminder'), 'stretch', 'Reminder after a delay runs');

SELECT pg_temp.run_template(:'a', 'Tag contacts by email domain', '{"email": "Bob@EXAMPLE.com"}') AS r6 \gset
SELECT is((:'r6'::flov7.workflow_executions).output_data, '{"data_3": {"tag": "internal", "email": "Bob@EXAMPLE.com"}}',
		  'Tag contacts by email domain: branch and join');

SELECT pg_temp.run_template(:'a', 'Process a list of items', '{"items": [{"name": "a", "price": 1}, {"name": "b", "price": 2}]}') AS r7 \gset
SELECT is((:'r7'::flov7.workflow_executions).status, 'completed', 'Process a list of items runs (loop)');
SELECT is((:'r7'::flov7.workflow_executions).output_data,
		  '{"data_2": [{"name": "a", "price": 1, "currency": "EUR"}, {"name": "b", "price": 2, "currency": "EUR"}]}',
		  'Process a list of items: each item mapped, merged in order');

SELECT * FROM finish();
ROLLBACK;
