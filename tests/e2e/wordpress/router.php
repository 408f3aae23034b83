<?php
/**
 * Router for `php -S` serving Debian's WordPress (/usr/share/wordpress) in the tests.
 *
 * Debian keeps wp-content outside the document root (Apache aliases it); here WP_CONTENT_DIR is a
 * per-run folder given in CHATBOT_FAQ_TEST_CONTENT_DIR, so /wp-content/ files are served from it.
 *
 * @package ChatbotFaq
 */

// Debian's wp-config.php reads /etc/wordpress/config-<WORDPRESS_CONFIG>.php when this is set: each test run
// writes its own file there instead of touching config-127.0.0.1.php.
$_SERVER['WORDPRESS_CONFIG'] = (string) getenv( 'CHATBOT_FAQ_TEST_CONFIG' );

// A visitor's address, which a test gives in X-Test-Remote-Addr (IPv6 ones included: this server listens on
// 127.0.0.1 only), as the web server would set it.
if ( isset( $_SERVER['HTTP_X_TEST_REMOTE_ADDR'] ) ) {
	$_SERVER['REMOTE_ADDR'] = $_SERVER['HTTP_X_TEST_REMOTE_ADDR'];
}

$chatbot_faq_path = (string) parse_url( $_SERVER['REQUEST_URI'], PHP_URL_PATH );

if ( 0 === strpos( $chatbot_faq_path, '/wp-content/' ) ) {
	$chatbot_faq_root = realpath( (string) getenv( 'CHATBOT_FAQ_TEST_CONTENT_DIR' ) );
	$chatbot_faq_file = realpath( $chatbot_faq_root . substr( $chatbot_faq_path, strlen( '/wp-content' ) ) );
	$chatbot_faq_ext  = strtolower( pathinfo( (string) $chatbot_faq_file, PATHINFO_EXTENSION ) );
	$chatbot_faq_mime = array(
		'css'   => 'text/css; charset=UTF-8',
		'js'    => 'application/javascript; charset=UTF-8',
		'json'  => 'application/json',
		'png'   => 'image/png',
		'jpg'   => 'image/jpeg',
		'svg'   => 'image/svg+xml',
		'woff2' => 'font/woff2',
	);
	if ( false === $chatbot_faq_root || false === $chatbot_faq_file || 0 !== strpos( $chatbot_faq_file, $chatbot_faq_root . '/' )
		|| ! is_file( $chatbot_faq_file ) || ! isset( $chatbot_faq_mime[ $chatbot_faq_ext ] ) ) {
		http_response_code( 404 );
		return true;
	}
	header( 'Content-Type: ' . $chatbot_faq_mime[ $chatbot_faq_ext ] );
	header( 'Content-Length: ' . filesize( $chatbot_faq_file ) );
	readfile( $chatbot_faq_file );
	return true;
}

// Anything else: the built-in server serves /usr/share/wordpress as usual (PHP files run, others are sent).
return false;
