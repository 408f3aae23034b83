<?php
/**
 * A tiny command line for the tests, in place of WP-CLI (not packaged by Debian 12):
 *
 *   php wp.php HOST COMMAND [JSON]
 *
 * HOST is the site's host:port; CHATBOT_FAQ_TEST_CONFIG in the environment names the run's
 * /etc/wordpress/config-<name>.php, which Debian's wp-config.php loads.
 * Commands print one JSON document on stdout:
 *
 *   install {"zip": ..., "admin_password": ...}   installs WordPress, installs the plugin from its zip through
 *                                                 WordPress's own upgrader, activates it, publishes a page
 *                                                 with [chatbot_faq]
 *   settings {...}                                replaces the plugin's option (the settings page's values)
 *   get-settings                                  the stored option
 *   locale {"locale": "fr_FR"}                    the site language ("" for English)
 *   reset-rate-limit                              forgets every visitor's rate-limit window (1.0.0's transients too)
 *   rate-limit-rows                               the rate-limit rows of the options table (name, value, autoload)
 *   end-rate-limit-windows                        ends every rate-limit window now, as if its minute were over
 *   daily-cleanup                                 runs WordPress's daily clean-up of expired transients (cron)
 *   add-user {"login":..., "password":..., "role":...}
 *   uninstall                                     deactivates and uninstalls the plugin (runs uninstall.php),
 *                                                 then reports what is left of its data
 *   activate                                      activates the plugin again
 *
 * @package ChatbotFaq
 */

if ( 'cli' !== PHP_SAPI ) {
	exit( 1 );
}

$chatbot_faq_host    = $argv[1];
$chatbot_faq_command = $argv[2];
$chatbot_faq_args    = isset( $argv[3] ) ? json_decode( $argv[3], true ) : array();

$_SERVER['WORDPRESS_CONFIG'] = (string) getenv( 'CHATBOT_FAQ_TEST_CONFIG' );
$_SERVER['HTTP_HOST']   = $chatbot_faq_host;
$_SERVER['SERVER_NAME'] = preg_replace( '/:.*/', '', $chatbot_faq_host );
$_SERVER['REQUEST_URI'] = '/';
if ( 'install' === $chatbot_faq_command ) {
	define( 'WP_INSTALLING', true );
}

require '/usr/share/wordpress/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';
require_once ABSPATH . 'wp-admin/includes/file.php';
require_once ABSPATH . 'wp-admin/includes/class-wp-upgrader.php';

const CHATBOT_FAQ_TEST_PLUGIN = 'chatbot-faq/chatbot-faq.php';

/**
 * Prints the result and stops.
 *
 * @param mixed $result Anything JSON-encodable.
 * @param int   $code   Exit status.
 */
function chatbot_faq_test_out( $result, $code = 0 ) {
	fwrite( STDOUT, wp_json_encode( $result ) . "\n" );
	exit( $code );
}

switch ( $chatbot_faq_command ) {
	case 'install':
		if ( ! is_blog_installed() ) {
			wp_install( 'Chatbot FAQ test', 'admin', 'admin@example.com', false, '', $chatbot_faq_args['admin_password'] );
		}
		update_option( 'permalink_structure', '' );
		update_option( 'template', 'twentytwentythree' );
		update_option( 'stylesheet', 'twentytwentythree' );

		if ( ! file_exists( WP_PLUGIN_DIR . '/' . CHATBOT_FAQ_TEST_PLUGIN ) ) {
			$chatbot_faq_skin     = new Automatic_Upgrader_Skin();
			$chatbot_faq_upgrader = new Plugin_Upgrader( $chatbot_faq_skin );
			$chatbot_faq_result   = $chatbot_faq_upgrader->install( $chatbot_faq_args['zip'] );
			if ( true !== $chatbot_faq_result ) {
				chatbot_faq_test_out(
					array(
						'error'    => is_wp_error( $chatbot_faq_result ) ? $chatbot_faq_result->get_error_message() : 'install failed',
						'messages' => $chatbot_faq_skin->get_upgrade_messages(),
					),
					1
				);
			}
		}
		$chatbot_faq_active = activate_plugin( CHATBOT_FAQ_TEST_PLUGIN );
		if ( is_wp_error( $chatbot_faq_active ) ) {
			chatbot_faq_test_out( array( 'error' => $chatbot_faq_active->get_error_message() ), 1 );
		}

		$chatbot_faq_pages = get_posts(
			array(
				'post_type'   => 'page',
				'name'        => 'faq',
				'post_status' => 'publish',
			)
		);
		$chatbot_faq_page  = $chatbot_faq_pages ? $chatbot_faq_pages[0]->ID : wp_insert_post(
			array(
				'post_type'    => 'page',
				'post_name'    => 'faq',
				'post_title'   => 'FAQ',
				'post_status'  => 'publish',
				'post_content' => "<!-- wp:shortcode -->\n[chatbot_faq]\n<!-- /wp:shortcode -->",
			),
			true
		);
		if ( is_wp_error( $chatbot_faq_page ) ) {
			chatbot_faq_test_out( array( 'error' => $chatbot_faq_page->get_error_message() ), 1 );
		}
		chatbot_faq_test_out(
			array(
				'page_id'  => $chatbot_faq_page,
				'page_url' => get_permalink( $chatbot_faq_page ),
				'rest_url' => rest_url( 'chatbot-faq/v1/chat' ),
				'version'  => get_bloginfo( 'version' ),
				'plugin'   => get_plugin_data( WP_PLUGIN_DIR . '/' . CHATBOT_FAQ_TEST_PLUGIN, false, false )['Version'],
			)
		);
		break;

	case 'settings':
		update_option( 'chatbot_faq_settings', $chatbot_faq_args );
		chatbot_faq_test_out( get_option( 'chatbot_faq_settings' ) );
		break;

	case 'get-settings':
		chatbot_faq_test_out( get_option( 'chatbot_faq_settings', null ) );
		break;

	case 'locale':
		update_option( 'WPLANG', $chatbot_faq_args['locale'] );
		chatbot_faq_test_out( array( 'locale' => get_option( 'WPLANG' ) ) );
		break;

	case 'reset-rate-limit':
		global $wpdb;
		$chatbot_faq_deleted = $wpdb->query( "DELETE FROM {$wpdb->options} WHERE option_name LIKE '%chatbot\\_faq\\_rl\\_%'" );
		chatbot_faq_test_out( array( 'deleted' => $chatbot_faq_deleted ) );
		break;

	case 'rate-limit-rows':
		global $wpdb;
		chatbot_faq_test_out( $wpdb->get_results( "SELECT option_name AS name, option_value AS value, autoload FROM {$wpdb->options} WHERE option_name LIKE '%chatbot\\_faq\\_rl\\_%'", ARRAY_A ) );
		break;

	case 'end-rate-limit-windows':
		global $wpdb;
		$chatbot_faq_ended = $wpdb->query( "UPDATE {$wpdb->options} SET option_value = CONCAT(UNIX_TIMESTAMP(), ':', SUBSTRING_INDEX(option_value, ':', -1)) WHERE option_name LIKE 'chatbot\\_faq\\_rl\\_%'" );
		chatbot_faq_test_out( array( 'ended' => $chatbot_faq_ended ) );
		break;

	case 'daily-cleanup':
		do_action( 'delete_expired_transients' );
		chatbot_faq_test_out( array( 'done' => true ) );
		break;

	case 'add-user':
		$chatbot_faq_user = get_user_by( 'login', $chatbot_faq_args['login'] );
		$chatbot_faq_id   = $chatbot_faq_user ? $chatbot_faq_user->ID : wp_insert_user(
			array(
				'user_login' => $chatbot_faq_args['login'],
				'user_pass'  => $chatbot_faq_args['password'],
				'user_email' => $chatbot_faq_args['login'] . '@example.com',
				'role'       => $chatbot_faq_args['role'],
			)
		);
		chatbot_faq_test_out( array( 'id' => is_wp_error( $chatbot_faq_id ) ? 0 : $chatbot_faq_id ) );
		break;

	case 'uninstall':
		global $wpdb;
		deactivate_plugins( CHATBOT_FAQ_TEST_PLUGIN );
		uninstall_plugin( CHATBOT_FAQ_TEST_PLUGIN );
		wp_cache_flush();
		chatbot_faq_test_out(
			array(
				'option'     => get_option( 'chatbot_faq_settings', null ),
				'leftovers'  => (int) $wpdb->get_var( "SELECT COUNT(*) FROM {$wpdb->options} WHERE option_name LIKE '%chatbot\\_faq%'" ),
				'active'     => is_plugin_active( CHATBOT_FAQ_TEST_PLUGIN ),
			)
		);
		break;

	case 'activate':
		$chatbot_faq_active = activate_plugin( CHATBOT_FAQ_TEST_PLUGIN );
		chatbot_faq_test_out( array( 'active' => ! is_wp_error( $chatbot_faq_active ) ) );
		break;

	default:
		chatbot_faq_test_out( array( 'error' => 'unknown command ' . $chatbot_faq_command ), 2 );
}
