<?php
/**
 * A per-visitor rate limit on questions, counted atomically in the options table.
 *
 * @package ChatbotFaq
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * A fixed one-minute window per visitor. A visitor is a logged-in user, else an IPv4 address or an IPv6 /64
 * (REMOTE_ADDR; behind a reverse proxy, filter `chatbot_faq_client_ip` to read a trusted header), hashed.
 *
 * Why one SQL statement on the options table, on every site:
 * - Checking and counting must be one atomic step, or parallel requests all read "room left" and all pass (as
 *   get_transient() then set_transient() did). INSERT ... ON DUPLICATE KEY UPDATE on the unique option_name locks
 *   the visitor's row for the statement, so MySQL and MariaDB apply parallel hits one after the other. WooCommerce's
 *   Store API rate limiter works the same way (an upsert with a fixed window, in a table of its own).
 * - Not the object cache, even when a persistent one is installed: whether wp_cache_incr() is atomic and shared by
 *   every web server depends on the drop-in (APCu is per server, some drop-ins get then set), and add-then-incr
 *   races at the window's edges (the key can expire or be evicted between the two calls). One indexed write per
 *   question costs little next to the call to the chatbot that follows it.
 * - Not a table of our own: the options table has the unique key already, and nothing needs creating or migrating.
 *
 * A row chatbot_faq_rl_<hash> holds "<window end>:<count>", in the database's clock (web servers with skewed clocks
 * agree), never autoloaded. Expired rows go with WordPress's expired transients (daily cron) and on uninstall.
 */
class Chatbot_FAQ_Rate_Limiter {

	const WINDOW = MINUTE_IN_SECONDS;

	const PREFIX = 'chatbot_faq_rl_';

	/**
	 * Hooks the clean-up of expired windows.
	 */
	public static function register_hooks() {
		add_action( 'delete_expired_transients', array( __CLASS__, 'delete_expired' ) );
	}

	/**
	 * Counts one question for the current visitor.
	 *
	 * @return true|int True when allowed, else the seconds until the window ends.
	 */
	public static function hit() {
		global $wpdb;

		$limit = Chatbot_FAQ_Settings::rate_limit();
		if ( 0 === $limit ) {
			return true;
		}
		$name = self::PREFIX . self::visitor();
		// Window over (or none): start one with this question. Room left: count it. Full: leave the row as it is,
		// which MySQL reports as 0 rows affected (1 for an insert, 2 for an update).
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery.DirectQuery, WordPress.DB.DirectDatabaseQuery.NoCaching -- atomic counter, see above.
		$affected = $wpdb->query(
			$wpdb->prepare(
				"INSERT INTO {$wpdb->options} (option_name, option_value, autoload)
				VALUES (%s, CONCAT(UNIX_TIMESTAMP() + %d, ':1'), 'no')
				ON DUPLICATE KEY UPDATE option_value = IF(
					CAST(SUBSTRING_INDEX(option_value, ':', 1) AS UNSIGNED) <= UNIX_TIMESTAMP(),
					CONCAT(UNIX_TIMESTAMP() + %d, ':1'),
					IF(
						CAST(SUBSTRING_INDEX(option_value, ':', -1) AS UNSIGNED) < %d,
						CONCAT(SUBSTRING_INDEX(option_value, ':', 1), ':', CAST(SUBSTRING_INDEX(option_value, ':', -1) AS UNSIGNED) + 1),
						option_value
					)
				)",
				$name,
				self::WINDOW,
				self::WINDOW,
				$limit
			)
		);
		if ( $affected ) {
			return true;
		}
		// Full, or a database error (false): refused either way, since this limit is what bounds spending.
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery.DirectQuery, WordPress.DB.DirectDatabaseQuery.NoCaching -- the same row, just written.
		$left = $wpdb->get_var(
			$wpdb->prepare(
				"SELECT CAST(SUBSTRING_INDEX(option_value, ':', 1) AS SIGNED) - UNIX_TIMESTAMP() FROM {$wpdb->options} WHERE option_name = %s",
				$name
			)
		);
		return null === $left ? self::WINDOW : max( 1, min( self::WINDOW, (int) $left ) );
	}

	/**
	 * Deletes the windows that are over (on WordPress's daily clean-up of expired transients).
	 */
	public static function delete_expired() {
		global $wpdb;
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery.DirectQuery, WordPress.DB.DirectDatabaseQuery.NoCaching -- rows only this class reads.
		$wpdb->query(
			$wpdb->prepare(
				"DELETE FROM {$wpdb->options} WHERE option_name LIKE %s AND CAST(SUBSTRING_INDEX(option_value, ':', 1) AS UNSIGNED) <= UNIX_TIMESTAMP()",
				$wpdb->esc_like( self::PREFIX ) . '%'
			)
		);
	}

	/**
	 * The address a limit applies to. IPv4: the address. IPv6: its /64, since a visitor (a home, a phone, a server)
	 * is given a whole /64 and could otherwise take a fresh address, and a fresh limit, for each question.
	 * An IPv4 client seen through an IPv6 socket (::ffff:192.0.2.1) is its IPv4 address. Anything else: as given.
	 *
	 * @param string $ip An address, as REMOTE_ADDR or the filter gave it.
	 * @return string
	 */
	private static function bucket( $ip ) {
		$ip = trim( $ip, " \t[]" );
		if ( false === filter_var( $ip, FILTER_VALIDATE_IP ) ) {
			return $ip;
		}
		$packed = (string) inet_pton( $ip );
		if ( 16 === strlen( $packed ) ) {
			if ( str_repeat( "\0", 10 ) . "\xff\xff" === substr( $packed, 0, 12 ) ) {
				return (string) inet_ntop( substr( $packed, 12 ) );
			}
			return inet_ntop( substr( $packed, 0, 8 ) . str_repeat( "\0", 8 ) ) . '/64';
		}
		return (string) inet_ntop( $packed );
	}

	/**
	 * A stable, non-reversible id of the current visitor.
	 *
	 * @return string
	 */
	private static function visitor() {
		$user_id = get_current_user_id();
		if ( $user_id ) {
			return 'u' . $user_id;
		}
		return substr( wp_hash( 'chatbot_faq_ip|' . self::bucket( self::client_ip() ) ), 0, 32 );
	}

	/**
	 * The visitor's IP address (REMOTE_ADDR, or what the `chatbot_faq_client_ip` filter says).
	 *
	 * @return string
	 */
	public static function client_ip() {
		$ip = isset( $_SERVER['REMOTE_ADDR'] ) ? sanitize_text_field( wp_unslash( $_SERVER['REMOTE_ADDR'] ) ) : '';
		/**
		 * Filters the visitor's IP address used for the rate limit.
		 *
		 * @param string $ip REMOTE_ADDR.
		 */
		return (string) apply_filters( 'chatbot_faq_client_ip', $ip );
	}
}
