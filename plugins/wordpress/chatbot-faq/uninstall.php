<?php
/**
 * Removes everything the plugin stored when it is deleted from the Plugins screen.
 *
 * @package ChatbotFaq
 */

if ( ! defined( 'WP_UNINSTALL_PLUGIN' ) ) {
	exit;
}

/**
 * Deletes the option and the rate-limit transients of the current site.
 */
function chatbot_faq_uninstall_site() {
	global $wpdb;

	delete_option( 'chatbot_faq_settings' );

	// Rate-limit buckets are transients named chatbot_faq_rl_<hash>; they expire within a minute anyway.
	$like = $wpdb->esc_like( '_transient_chatbot_faq_rl_' ) . '%';
	// phpcs:ignore WordPress.DB.DirectDatabaseQuery.DirectQuery, WordPress.DB.DirectDatabaseQuery.NoCaching -- one-off cleanup.
	$names = $wpdb->get_col( $wpdb->prepare( "SELECT option_name FROM {$wpdb->options} WHERE option_name LIKE %s", $like ) );
	foreach ( $names as $name ) {
		delete_transient( substr( $name, strlen( '_transient_' ) ) );
	}
}

if ( is_multisite() ) {
	foreach ( get_sites( array( 'fields' => 'ids' ) ) as $chatbot_faq_site_id ) {
		switch_to_blog( $chatbot_faq_site_id );
		chatbot_faq_uninstall_site();
		restore_current_blog();
	}
} else {
	chatbot_faq_uninstall_site();
}
