<?php
/**
 * A must-use plugin that the tests install in their WordPress (tests/e2e/wordpress/harness.py), to drive what a
 * test cannot do from outside. It acts only on requests that carry its headers:
 *
 *   X-Test-Release-At: <Unix time>     holds a REST request just before its route's callback until that instant, so
 *                                      that parallel requests reach the rate limiter together; the answer carries
 *                                      X-Test-Held (1 if it waited) and X-Test-Worker (the PHP worker's pid).
 *   X-Test-Forwarded-For: <address>    the visitor's address as a reverse proxy would pass it on, read through the
 *                                      plugin's chatbot_faq_client_ip filter as the readme tells site owners to.
 *
 * (The router, tests/e2e/wordpress/router.php, sets REMOTE_ADDR from X-Test-Remote-Addr.)
 *
 * @package ChatbotFaq
 */

add_filter(
	'rest_request_before_callbacks',
	function ( $response ) {
		if ( isset( $_SERVER['HTTP_X_TEST_RELEASE_AT'] ) ) {
			$chatbot_faq_wait = (float) $_SERVER['HTTP_X_TEST_RELEASE_AT'] - microtime( true );
			header( 'X-Test-Held: ' . ( $chatbot_faq_wait > 0 ? '1' : '0' ) );
			header( 'X-Test-Worker: ' . getmypid() );
			if ( $chatbot_faq_wait > 0 ) {
				usleep( (int) ( $chatbot_faq_wait * 1000000 ) );
			}
		}
		return $response;
	}
);

add_filter(
	'chatbot_faq_client_ip',
	function ( $ip ) {
		return isset( $_SERVER['HTTP_X_TEST_FORWARDED_FOR'] ) ? (string) $_SERVER['HTTP_X_TEST_FORWARDED_FOR'] : $ip;
	}
);
